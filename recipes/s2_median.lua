-- A cloud-filtered Sentinel-2 median composite (B4, B3, B2) over a region,
-- reprojected to UTM 10N at 20 m, fetched through a 2 x 2 fishnet.
--   eefetch run recipes/s2_median.lua --emulator
--   eefetch plan recipes/s2_median.lua --emulator     (plan only, no pixels)
local region = ee.Geometry.Rectangle({ -122.45, 37.70, -122.35, 37.80 })

local composite = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filterBounds(region)
  :filterDate(params.start or "2023-06-01", params.stop or "2023-09-01")
  :filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", tonumber(params.clouds or "30")))
  :select({ "B4", "B3", "B2" })
  :median()

local r = download{
  image = composite,
  region = region,
  crs = "EPSG:32610",
  scale = 20,
  bands = { "B4", "B3", "B2" },
  fishnet = { rows = 2, cols = 2 },
  output = params.out or "s2_median.tif",
}
print(json.encode(r))
