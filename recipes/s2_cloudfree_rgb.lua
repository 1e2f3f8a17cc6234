-- A cloud-free Sentinel-2 true-colour composite of summer 2023: Cloud Score+
-- masks each scene (cs >= 0.6, the threshold geedim uses by default), the
-- counts become reflectance, and each pixel is the median of its clear
-- scenes, at 10 m in UTM 10N over about 4 km x 4 km south of San Jose.
--   eefetch run recipes/s2_cloudfree_rgb.lua --emulator --set out=/tmp/rgb.tif
--   ... --set threshold=0.8   (stricter)
local region = geo.bbox(-121.90, 37.30, -121.85, 37.34)

local s2 = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filterDate(params.start or "2023-06-01", params.stop or "2023-09-01")
  :filterBounds(region)
local clear = lib.mask.s2_cloud_score(s2, { threshold = tonumber(params.threshold) or 0.6 })
local rgb = lib.composite.median(clear:map(lib.scale.s2)):select({ "B4", "B3", "B2" })

local r = download{
  image = rgb,
  region = region,
  -- A composite has no projection of its own: Sentinel-2's 10 m lattice in UTM 10N.
  crs = "EPSG:32610", crs_transform = { 10, 0, 0, 0, -10, 0 },
  dtype = "float32",
  output = params.out or "s2_rgb.tif",
}
print(string.format("%s: %d x %d pixels, bands %s", params.out or "s2_rgb.tif", r.width, r.height,
                    "B4, B3, B2 (reflectance)"))
