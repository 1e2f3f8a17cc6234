-- Clip and download elevation inside the polygons of a vector file (GeoJSON,
-- GeoPackage or Shapefile; relative to this recipe), given as --set file=...
--   eefetch run recipes/region_file.lua --emulator --set file=my_area.gpkg
if not params.file then
  error("give the region file: --set file=PATH (GeoJSON, GeoPackage or Shapefile)")
end
local area = geo.read(params.file)

local r = download{
  image = ee.Image("USGS/SRTMGL1_003"):clip(area),
  region = area,
  crs = "EPSG:4326",
  pixel_size = 1 / 3600,
  bands = { "elevation" },
  nodata = -32768,
  output = params.out or "region_dem.tif",
}
print(json.encode(r))
