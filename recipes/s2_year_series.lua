-- A year of Sentinel-2 scenes over a small area, every image downloaded as
-- one job on one grid (the images' own 10 m UTM lattice):
--   layout = "files": one GeoTIFF per image, named by date and index;
--   layout = "stack": one GeoTIFF, bands named <band>_<date>;
--   layout = "cube":  a (time, y, x) Zarr or NetCDF datacube.
--   eefetch run recipes/s2_year_series.lua --emulator
--   eefetch run recipes/s2_year_series.lua --emulator --set layout=cube --set out=s2_2023.zarr
local area = ee.Geometry.Rectangle({ -121.70, 37.30, -121.67, 37.32 })

local scenes = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filterBounds(area)
  :filterDate(params.start or "2023-01-01", params.stop or "2024-01-01")

local layout = params.layout or "files"
local default_out = { files = "s2_{date}.tif", stack = "s2_2023_stack.tif", cube = "s2_2023.zarr" }

local r = download{
  collection = scenes,
  layout = layout,
  bands = { "B2", "B3", "B4", "B8" },
  region = area,
  output = params.out or default_out[layout],
  max_tile_bytes = params.tile_bytes and tonumber(params.tile_bytes) or nil,
}
print(string.format("%d images, %d tiles, %d fetched, %d resumed", r.images or 0, r.tiles, r.tiles_fetched,
                    r.tiles_resumed))
