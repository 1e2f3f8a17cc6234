-- Elevation (SRTM, 1 arc-second) for a small box around San Francisco, as
-- one GeoTIFF in EPSG:4326.
--   eefetch run recipes/srtm_bbox.lua --emulator
--   eefetch run recipes/srtm_bbox.lua --emulator --set out=/tmp/sf.tif
local dem = ee.Image("USGS/SRTMGL1_003")

local result = download{
  image = dem,
  region = geo.bbox(-122.52, 37.70, -122.35, 37.83),
  crs = "EPSG:4326",
  pixel_size = 1 / 3600,         -- degrees (CRS units): one arc-second; scale = 30 would be metres
  bands = { "elevation" },
  dtype = "int16",
  output = params.out or "srtm_sf.tif",
}
print(string.format("%s: %d x %d pixels in %d tile(s)", params.out or "srtm_sf.tif",
                    result.width, result.height, result.tiles))
