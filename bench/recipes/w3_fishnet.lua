-- Benchmark W3: a fishnet of small cells over SRTM (int16, 1 arc-second):
-- rows x cols cells of cell x cell pixels, one request per cell, one output.
--   --set rows=R --set cols=C --set cell=PIXELS
--   --set format=...  --set compression=...  --set out=PATH
local rows = tonumber(params.rows or "20")
local cols = tonumber(params.cols or "21")
local cell = tonumber(params.cell or "256")
local s = 1 / 3600
-- Upper-left corner on a pixel edge of SRTM's grid (centres on whole seconds).
local x0, y0 = -123 - 0.5 * s, 38 + 0.5 * s
local r = download{
  image = ee.Image("USGS/SRTMGL1_003"), bands = { "elevation" },
  crs = "EPSG:4326", crs_transform = { s, 0, x0, 0, -s, y0 },
  dimensions = { cols * cell, rows * cell }, dtype = "int16",
  fishnet = { rows = rows, cols = cols },
  workers = tonumber(params.workers or "40"),
  format = params.format or "gtiff", compression = params.compression or "default",
  output = params.out, overwrite = true,
}
print("EEFETCH_BENCH_SUMMARY " .. json.encode(r))
