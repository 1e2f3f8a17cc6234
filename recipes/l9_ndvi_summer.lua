-- Cloud-masked Landsat 9 NDVI, median of summer 2023, at 30 m over about
-- 50 km x 50 km south of San Francisco Bay: one GeoTIFF per cell of a 4 x 4
-- fishnet and a VRT over them. Masked pixels (cloudy in every summer scene)
-- are nodata. Running it again once it is complete does nothing.
--   eefetch plan recipes/l9_ndvi_summer.lua --emulator
--   eefetch run recipes/l9_ndvi_summer.lua --emulator --set out=/tmp/ndvi/ndvi.vrt
--   ... --set start=2023-08-19 --set stop=2023-08-20   (one scene: its clouds are nodata)
local region = geo.bbox(-121.80, 37.20, -121.23, 37.65)

-- Collection 2 Level 2 QA_PIXEL bits: 1 dilated cloud, 2 cirrus, 3 cloud,
-- 4 cloud shadow (Landsat 8-9 C2 L2 Science Product Guide, table 6-3).
local CLOUDY = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)

local function ndvi(img)
  local clear = img:select("QA_PIXEL"):bitwiseAnd(CLOUDY):eq(0)
  -- Surface reflectance = DN * 0.0000275 - 0.2 (Collection 2 scale factors).
  local sr = img:select({ "SR_B4", "SR_B5" }):multiply(0.0000275):add(-0.2)
  return sr:normalizedDifference({ "SR_B5", "SR_B4" }):rename("ndvi"):updateMask(clear)
end

local summer = ee.ImageCollection("LANDSAT/LC09/C02/T1_L2")
  :filterDate(params.start or "2023-06-01", params.stop or "2023-09-01")
  :filterBounds(region)
  :map(ndvi)

local r = download{
  image = summer:median(),
  region = region,
  -- A median has no projection of its own: UTM 10N on Landsat's own 30 m
  -- lattice (pixel edges at odd multiples of 15 m), cut to the region.
  crs = "EPSG:32610",
  crs_transform = { 30, 0, 15, 0, -30, 15 },
  dtype = "float32",
  nodata = -9999,
  fishnet = { rows = 4, cols = 4 },
  split = true,                        -- ndvi_r<row>_c<col>.tif + the VRT at output
  output = params.out or "ndvi.vrt",
}
print(string.format("%s: %d x %d pixels, %d tiles (%d fetched, %d already done)", params.out or "ndvi.vrt",
                    r.width, r.height, r.tiles, r.tiles_fetched, r.tiles_resumed))
