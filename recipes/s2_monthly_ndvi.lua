-- Monthly NDVI of Sentinel-2 over summer 2023, one GeoTIFF per month:
-- clouds, cirrus and shadows masked by the scene classification (SCL), NDVI
-- per scene, the per-pixel median of each month, at 10 m in UTM 10N over
-- about 4 km x 4 km south of San Jose. Pixels no scene of a month sees
-- clear are nodata.
--   eefetch run recipes/s2_monthly_ndvi.lua --emulator --set dir=/tmp/ndvi
--   ... --set start=2023-01-01 --set stop=2024-01-01 --set step=season
local region = geo.bbox(-121.90, 37.30, -121.85, 37.34)

local s2 = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterBounds(region)
-- Filter by date before computing NDVI: like most image operations,
-- normalizedDifference keeps no properties, so the NDVI images have no
-- system:time_start left to filter on.
local function ndvi(img) return lib.index.ndvi(lib.mask.s2_scl(img), "s2") end

local dir = params.dir or "."
for _, p in ipairs(lib.composite.periods(params.start or "2023-06-01", params.stop or "2023-09-01",
                                         { step = params.step or "month" })) do
  local r = download{
    image = lib.composite.median(s2:filterDate(p.start, p.stop):map(ndvi)),
    region = region,
    -- A composite has no projection of its own: Sentinel-2's 10 m lattice in UTM 10N.
    crs = "EPSG:32610", crs_transform = { 10, 0, 0, 0, -10, 0 },
    dtype = "float32",
    output = dir .. "/ndvi_" .. p.label .. ".tif",
  }
  print(string.format("ndvi_%s.tif: %d x %d pixels", p.label, r.width, r.height))
end
