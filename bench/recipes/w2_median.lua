-- Benchmark W2: a cloud-filtered median composite of Sentinel-2 (B2, B3, B4,
-- B8, B11) over tile 10SEG, July 2023: scenes with less than 30 % cloud,
-- pixels of the cloud shadow, cloud and cirrus classes (SCL 3, 8, 9, 10)
-- masked, then the per-pixel median, written as uint16 on the tile's 10 m grid.
--   --set width=W --set height=H   output size in pixels (at most 10980)
--   --set format=...  --set compression=...  --set out=PATH
local coll = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filter(ee.Filter.eq("MGRS_TILE", "10SEG"))
  :filterDate(params.start or "2023-07-01", params.stop or "2023-08-01")
  :filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", 30))
local masked = coll:map(function(img)
  local scl = img:select("SCL")
  local clear = scl:neq(3):And(scl:neq(8)):And(scl:neq(9)):And(scl:neq(10))
  return img:select({ "B2", "B3", "B4", "B8", "B11" }):updateMask(clear)
end)
print("EEFETCH_BENCH_IMAGES " .. coll:size():getInfo())
local w = tonumber(params.width or "2048")
local h = tonumber(params.height or "2048")
local r = download{
  image = masked:median(), bands = { "B2", "B3", "B4", "B8", "B11" },
  crs = "EPSG:32610", crs_transform = { 10, 0, 499960, 0, -10, 4200000 },
  dimensions = { w, h }, dtype = "uint16",
  workers = tonumber(params.workers or "40"),
  format = params.format or "gtiff", compression = params.compression or "default",
  output = params.out, overwrite = true,
}
print("EEFETCH_BENCH_SUMMARY " .. json.encode(r))
