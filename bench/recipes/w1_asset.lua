-- Benchmark W1: one stored Sentinel-2 image (4 uint16 bands: B2, B3, B4, B8)
-- on an exact UTM grid anchored at the tile's upper-left corner.
--   --set size=N       output is N x N pixels
--   --set scale=S      pixel size in metres (6.5 oversamples the 10 m bands,
--                      so one 109.8 km tile yields more than 2 GiB; 2.06 with
--                      size=53000 yields 20.9 GiB, the --rss-big run)
--   --set workers=N    worker cap (40; the RSS runs use 8; "default" leaves the
--                      key out, as a user who sets nothing does)
--   --set format=gtiff|cog  --set compression=default|none|...  --set out=PATH
local img = ee.Image("COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG")
local n = tonumber(params.size or "2048")
local s = tonumber(params.scale or "10")
-- The grid starts at the tile's corner; past 109.8 km it would reach beyond
-- the image, and part of the output would not be the image's pixels.
if n * s > 109800 then
  error(string.format("size %d x scale %g m = %.0f m: wider than the 109.8 km tile", n, s, n * s))
end
local r = download{
  image = img, bands = { "B2", "B3", "B4", "B8" },
  crs = "EPSG:32610", crs_transform = { s, 0, 499960, 0, -s, 4200000 },
  dimensions = { n, n }, dtype = "uint16",
  workers = params.workers ~= "default" and tonumber(params.workers or "40") or nil,
  format = params.format or "gtiff", compression = params.compression or "default",
  output = params.out, overwrite = true,
}
print("EEFETCH_BENCH_SUMMARY " .. json.encode(r))
