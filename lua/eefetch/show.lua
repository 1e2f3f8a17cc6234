-- img:show{...}, collection:show{...} and the REPL's :show: thumbnails
-- drawn in the terminal. The request is the one getThumbURL({format = "png"})
-- makes: Image.clipToBoundsAndScale(image, region, maxDimension), then
-- Image.visualize with the options given, sent to thumbnails.create and
-- fetched with getPixels (src/host/termimg.c), then drawn as sixel, kitty
-- graphics or half blocks.
local host = require "eefetch.host"
local util = require "eefetch.util"

local M = {}

local fail = util.fail

M.DIMENSIONS = 256   -- longest side of each thumbnail, in pixels
M.COUNT = 4          -- images of a collection shown side by side

local VIS = { "bands", "gain", "bias", "min", "max", "gamma", "palette", "opacity", "forceRgbOutput" }
local OTHER = { dimensions = true, region = true, mode = true, count = true, columns = true, rows = true }

local function ee() return require "eefetch.ee" end

local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" or ee()._is_ee(opts) then
    fail("show: options are a table, e.g. img:show{bands = {\"B4\", \"B3\", \"B2\"}, min = 0, max = 3000}")
  end
  local known = {}
  for _, k in ipairs(VIS) do known[k] = true end
  for k in pairs(opts) do
    if not known[k] and not OTHER[k] then
      fail("show: unknown option '%s' (visualize's bands, gain, bias, min, max, gamma, palette, opacity, " ..
           "forceRgbOutput; dimensions, region, count, mode)", tostring(k))
    end
  end
  return opts
end

-- The bounding box of what getInfo says of an image: its footprint when it
-- has one, else its first bounded band's grid (in that band's CRS).
local function region_of(info)
  local props = type(info) == "table" and info.properties or nil
  local fp = props and props["system:footprint"]
  if type(fp) == "table" and type(fp.coordinates) == "table" then
    local w, s, e, n = math.huge, math.huge, -math.huge, -math.huge
    local function walk(c)
      if type(c) ~= "table" then return end
      if type(c[1]) == "number" and type(c[2]) == "number" then
        w, e = math.min(w, c[1]), math.max(e, c[1])
        s, n = math.min(s, c[2]), math.max(n, c[2])
      else
        for _, x in ipairs(c) do walk(x) end
      end
    end
    walk(fp.coordinates)
    if w < e and s < n then return ee().Geometry.Rectangle({ w, s, e, n }, nil, false) end
  end
  for _, b in ipairs(type(info) == "table" and info.bands or {}) do
    local d, t = b.dimensions, b.crs_transform
    if type(d) == "table" and type(t) == "table" and #t >= 6 and d[1] and d[2] then
      local x0, x1 = t[3], t[3] + t[1] * d[1]
      local y0, y1 = t[6], t[6] + t[5] * d[2]
      local box = { math.min(x0, x1), math.min(y0, y1), math.max(x0, x1), math.max(y0, y1) }
      if b.crs == "EPSG:4326" then
        -- A global grid reaches a little past the poles and the antimeridian.
        box = { math.max(box[1], -180), math.max(box[2], -90), math.min(box[3], 180), math.min(box[4], 90) }
        return ee().Geometry.Rectangle(box, nil, false)
      end
      return ee().Geometry.Rectangle(box, b.crs, false)
    end
  end
  return nil
end

-- The expression of one thumbnail: getThumbURL's graph for img.
local function thumb_expr(img, opts, info)
  local E = ee()
  local region = opts.region
  if type(region) == "table" and not E._is_ee(region) then region = E.Geometry.Rectangle(region, nil, false) end
  if region == nil then
    region = region_of(info or img:getInfo())
    if region == nil then
      fail("show: the image has no bounds (a constant or a computed image without a footprint); " ..
           "give a region, e.g. img:show{region = {-122.6, 37.6, -122.3, 37.9}}")
    end
  end
  local dims = opts.dimensions or M.DIMENSIONS
  if math.type(dims) ~= "integer" or dims < 1 or dims > 2048 then
    fail("show: dimensions must be a whole number of pixels from 1 to 2048, not %s", tostring(dims))
  end
  local out = E.apply("Image.clipToBoundsAndScale", { input = img, geometry = region, maxDimension = dims })
  local vis, any = { image = out }, false
  for _, k in ipairs(VIS) do
    if opts[k] ~= nil then vis[k] = opts[k]; any = true end
  end
  if type(vis.bands) == "string" then vis.bands = { vis.bands } end
  if any then out = E.apply("Image.visualize", vis) end
  return E.serialize(out)
end

local function date_of(props)
  local t = props and props["system:time_start"]
  if type(t) ~= "number" then return "" end
  return os.date("!%Y-%m-%d", t // 1000)
end

local function draw(pngs, captions, opts)
  return host.term_image(pngs, captions, { mode = opts.mode, columns = opts.columns, rows = opts.rows })
end

-- The text that draws v (an image or an image collection).
function M.render(v, opts)
  local E = ee()
  opts = check_opts(opts)
  if not host.thumbnail then fail("show: thumbnails are not available here") end
  local cls = E._class_name(v)
  if cls == "Image" then
    return draw({ host.thumbnail(thumb_expr(v, opts)) }, {}, opts)
  elseif cls == "ImageCollection" then
    local n = opts.count or M.COUNT
    if math.type(n) ~= "integer" or n < 1 or n > 16 then fail("show: count must be 1 to 16, not %s", tostring(n)) end
    local first = v:limit(n)
    local info = first:getInfo()
    local feats = type(info) == "table" and info.features or {}
    if #feats == 0 then fail("show: the collection is empty") end
    local list = first:toList(n)
    local pngs, dates = {}, {}
    for i, f in ipairs(feats) do
      local img = E.Image(list:get(i - 1))
      pngs[i] = host.thumbnail(thumb_expr(img, opts, f))
      dates[i] = date_of(f.properties)
    end
    return draw(pngs, dates, opts)
  end
  fail("show: only an ee.Image or an ee.ImageCollection can be shown, not %s", cls or type(v))
end

-- img:show{...}: draws on standard output and returns nothing.
function M.show(v, opts)
  io.write(M.render(v, opts))
  io.flush()
end

return M
