-- Sentinel-2's scene classification (SCL: one uint8 class per pixel) of
-- one image as a Cloud Optimized GeoTIFF. Its overviews take the most
-- common class of the pixels below (`overviews = "mode"`): the default,
-- "average", suits reflectances but would invent classes here.
--   eefetch run recipes/scl_classes_cog.lua --emulator
local img = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filter(ee.Filter.eq("MGRS_TILE", "10SEG"))
  :first()

local r = download{
  image = img,
  region = ee.Geometry.Rectangle({ -122.45, 37.70, -122.35, 37.80 }),
  crs = "EPSG:32610",
  scale = 20,
  bands = { "SCL" },
  dtype = "uint8",
  format = "cog",
  overviews = params.overviews or "mode",
  output = params.out or "scl_classes.tif",
}
print(string.format("%d x %d pixels of classes: %s", r.width, r.height, r.output))
