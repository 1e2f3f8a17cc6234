-- The demo (scripts/demo.sh): a cloud-filtered Sentinel-2 median composite
-- (red, green, blue) of about 20 km x 20 km around San Francisco at 10 m in
-- UTM zone 10N -- about 2000 x 2000 pixels, 3 bands -- written as a Cloud
-- Optimized GeoTIFF with a PNG quick-look beside it.
--   eefetch run recipes/demo_s2_median.lua --emulator --set out=demo.tif
local area = geo.bbox(-122.52, 37.62, -122.29, 37.80)

local composite = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filterBounds(area)
  :filterDate(params.start or "2023-06-01", params.stop or "2023-09-01")
  :filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", tonumber(params.clouds or "20")))
  :select({ "B4", "B3", "B2" })
  :median()

local r = download{
  image = composite,
  region = area,
  crs = "EPSG:32610",
  scale = 10,
  bands = { "B4", "B3", "B2" },
  dtype = "uint16",
  format = "cog",
  output = params.out or "demo_s2_median.tif",
  quicklook = true,
}
print(string.format("%d x %d pixels, %d tiles, %.1f MiB in %.1f s, %d retries",
                    r.width, r.height, r.tiles, r.bytes / 1048576, r.seconds, r.retries))
print("COG:        " .. r.output)
print("quick-look: " .. r.quicklook)
