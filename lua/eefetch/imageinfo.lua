-- What download{} and plan{} learn about an image before planning, with
-- EE's meaning of every default: one getInfo of the image gives its bands,
-- their types and projections; from them come the default band list, the
-- default grid (the image's own projection), the output type and a value
-- free for nodata. When the server refuses the image, the error says why
-- in the recipe's words (an empty collection and the filter that emptied
-- it, the bands a select could have meant).
local util = require "eefetch.util"
local json = require "eefetch.json"

local M = {}

local function ee() return require "eefetch.ee" end
local host = require "eefetch.host"

-- Who asks: a download's own credentials and project, else the command
-- line's (nil, nil). Every question about a download is asked, and billed,
-- as the download itself will be.
local account = {}
function M.set_account(credentials, project) account = { credentials = credentials, project = project } end

local function get(v)
  local ok, r = pcall(host.compute, ee().serialize(v), account.credentials, account.project)
  if not ok then util.fail("%s", tostring(r)) end
  return r
end

-- Integer types in the order EE picks the narrowest one for a value range,
-- with their ranges; float types by precision.
local int_types = {
  { "uint8", 0, 255 }, { "int8", -128, 127 }, { "uint16", 0, 65535 }, { "int16", -32768, 32767 },
  { "uint32", 0, 4294967295 }, { "int32", -2147483648, 2147483647 },
}
local type_range = {}
for _, t in ipairs(int_types) do type_range[t[1]] = { t[2], t[3] } end
local FLOAT32_LOWEST = -3.4028234663852886e38
local FLOAT64_LOWEST = -1.7976931348623157e308

-- The type EE sends a band as (NPY), from its declared data_type.
function M.band_type(dt)
  if type(dt) ~= "table" then return nil end
  if dt.precision == "float" then return "float32" end
  if dt.precision == "double" then return "float64" end
  if dt.precision == "int" and type(dt.min) == "number" and type(dt.max) == "number" then
    for _, t in ipairs(int_types) do
      if t[2] <= dt.min and dt.max <= t[3] then return t[1] end
    end
    return "float64"
  end
  return nil
end

local function is_float(t) return t == "float32" or t == "float64" end

-- The output type of several bands, as the engine unites them: the
-- narrowest integer type holding every band's type range; a float with
-- integers of at most 16 bits stays float32, wider ones need float64.
function M.union_type(types)
  local lo, hi, f32, f64, wide = 0, 0, false, false, false
  for _, t in ipairs(types) do
    if t == "float64" then f64 = true
    elseif t == "float32" then f32 = true
    else
      local r = type_range[t]
      if t == "int8" then r = type_range.int16 end
      lo, hi = math.min(lo, r[1]), math.max(hi, r[2])
      wide = wide or t == "uint32" or t == "int32"
    end
  end
  if f64 or (f32 and wide) then return "float64" end
  if f32 then return "float32" end
  if #types == 1 then return types[1] end
  for _, t in ipairs(int_types) do
    if t[1] ~= "int8" and t[2] <= lo and hi <= t[3] then return t[1] end
  end
  return "float64"
end

-- A value of type `out` that no band can take, or nil when there is none.
-- ranges: the bands' declared {min, max}, or false for a band whose range
-- is unknown (a float band: any value of the output type may come of it).
-- Unsigned types prefer 0, signed ones their minimum, then the maximum;
-- floats take the type's lowest finite value (JSON has no NaN to send).
function M.free_value(out, ranges)
  if out == "float32" then return FLOAT32_LOWEST end
  if out == "float64" then return FLOAT64_LOWEST end
  local tr = type_range[out]
  local lo, hi = math.huge, -math.huge
  for i = 1, #ranges do
    local r = ranges[i]
    if not r then lo, hi = -math.huge, math.huge; break end
    lo, hi = math.min(lo, r[1]), math.max(hi, r[2])
  end
  lo, hi = math.max(lo, tr[1]), math.min(hi, tr[2])
  if tr[1] < lo then return math.tointeger(tr[1]) end
  if hi < tr[2] then return math.tointeger(tr[2]) end
  return nil
end

-- ---- the collections an image is computed from --------------------------

local function class_of(v) return ee()._is_ee(v) and ee()._class_name(v) or nil end

-- Every ImageCollection value the image's expression reads (not descending
-- into a collection's own inputs: those are its stages).
local function collections_of(obj)
  local out, seen = {}, {}
  local function walk(v, depth)
    if type(v) ~= "table" or seen[v] or depth > 200 then return end
    seen[v] = true
    local cls = class_of(v)
    if cls == "ImageCollection" then out[#out + 1] = v; return end
    local args = cls and rawget(v, "args") or (not cls and v) or nil
    if type(args) ~= "table" then return end
    for _, a in next, args do walk(a, depth + 1) end
  end
  walk(obj, 0)
  return out
end

local function short(v, depth)
  depth = depth or 0
  if depth > 4 then return "..." end
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  if class_of(v) then
    if rawget(v, "literal") ~= nil then return short(rawget(v, "literal"), depth) end
    local f, args = rawget(v, "func"), rawget(v, "args")
    if f == "Date" and args and args.value ~= nil then return short(args.value, depth) end
    if f == "Feature" or (type(f) == "string" and f:match("^GeometryConstructors")) then return "the region" end
    if type(f) ~= "string" then return "(a computed value)" end
    local parts = {}
    for _, k in ipairs(util.sorted_keys(args or {})) do parts[#parts + 1] = k .. "=" .. short(args[k], depth + 1) end
    return f:gsub("^Filter%.", "") .. "(" .. table.concat(parts, ", ") .. ")"
  end
  local parts = {}
  for i = 1, #v do parts[i] = short(v[i], depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- A filter in the words of the recipe.
local function describe_filter(f)
  local fn, a = rawget(f, "func"), rawget(f, "args") or {}
  if fn == "Filter.dateRangeContains" and class_of(a.leftValue) then
    local r = rawget(a.leftValue, "args") or {}
    return string.format("the date filter %s .. %s", short(r.start), r["end"] and short(r["end"]) or "(open)")
  end
  if fn == "Filter.intersects" then return "the bounds filter (filterBounds: the region)" end
  return "the filter " .. short(f)
end

-- Stages of a collection, innermost (the loaded collection) first.
local function stages(c)
  local out = {}
  local cur = c
  while class_of(cur) == "ImageCollection" or class_of(cur) == "Collection" do
    table.insert(out, 1, cur)
    local fn, a = rawget(cur, "func"), rawget(cur, "args")
    if (fn == "Collection.filter" or fn == "Collection.limit" or fn == "Collection.map") and a then
      cur = a.collection
    else
      break
    end
  end
  return out
end

-- Why a collection the image reads is empty, or nil when none is: its size
-- after each stage in one getInfo, and the stage that removed the last
-- image named.
function M.explain_empty(img)
  local E = ee()
  for _, c in ipairs(collections_of(img)) do
    local st = stages(c)
    local sizes = {}
    for i, s in ipairs(st) do sizes[i] = E.call("Collection.size", s) end
    local ok, got = pcall(function() return get(E.List(sizes)) end)
    if ok and type(got) == "table" and got[#got] == 0 then
      local base = rawget(st[1], "args") and rawget(st[1], "args").id
      local what = base and string.format("the collection %s", short(base)) or "a collection"
      if got[1] == 0 then return what .. " is empty" end
      for i = 2, #got do
        if got[i] == 0 then
          local fn, a = rawget(st[i], "func"), rawget(st[i], "args")
          local by = fn == "Collection.filter" and describe_filter(a.filter)
                     or fn == "Collection.limit" and "limit()" or "map()"
          return string.format("the collection is empty: %s has %d images%s, and %s left none", what,
                               got[i - 1], i > 2 and " after the filters before it" or "", by)
        end
      end
    end
  end
  return nil
end

-- What EE says of a value (getInfo), or raises with the server's message
-- and what it means for this recipe.
function M.fetch_value(v, what)
  local ok, info = pcall(function() return get(v) end)
  if not ok then
    if tostring(info):match("interrupted") then
      util.fail("%s{}: interrupted before any tile was requested; run the same recipe again to resume", what)
    end
    local msg = tostring(info):gsub("^.-getInfo: ", "")
    util.fail("%s{}: %s", what, M.hint(msg, v))
  end
  return info
end

-- The image's bands as EE knows them, or raises with the server's message
-- and what it means for this recipe.
function M.fetch(img, what)
  local info = M.fetch_value(img, what)
  if info == nil or info == json.null then
    local why = M.explain_empty(img)
    util.fail("%s{}: the image is null%s", what,
              why and ("; " .. why) or " (e.g. first() of an empty collection)")
  end
  if type(info) ~= "table" or type(info.bands) ~= "table" then
    util.fail("%s{}: 'image' did not evaluate to an image", what)
  end
  return info
end

-- A server message with what the recipe can do about it.
function M.hint(msg, img)
  local pattern = msg:match("Pattern '([^']*)' did not match any bands")
  if pattern then
    -- The bands of the image that select read from.
    local function find(v, depth)
      if type(v) ~= "table" or depth > 200 then return nil end
      if class_of(v) and rawget(v, "func") == "Image.select" then
        local a = rawget(v, "args")
        if a and a.input then
          local ok, names = pcall(function() return get(a.input:bandNames()) end)
          if ok and type(names) == "table" then return names end
        end
      end
      local args = class_of(v) and rawget(v, "args") or (not class_of(v) and v) or nil
      if type(args) ~= "table" then return nil end
      for _, x in next, args do
        local r = find(x, depth + 1)
        if r then return r end
      end
      return nil
    end
    local names = find(img, 0)
    if names then
      if #names == 0 then
        local why = M.explain_empty(img)
        return msg .. " The image has no bands" .. (why and (": " .. why) or "") .. "."
      end
      return msg .. " Its bands are: " .. table.concat(names, ", ") .. "."
    end
  elseif msg:match("not null") or msg:match("[Nn]ull") then
    local why = M.explain_empty(img)
    if why then return why .. " (" .. msg .. ")" end
  end
  return msg
end

-- ---- what an output says of its image ----------------------------------

local function iso8601(ms)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02dZ", util.split_ms(ms))
end

M.iso8601 = iso8601

-- An image's scalar properties as output metadata items: EE_ID, EE_INDEX
-- and EE_DATE (ISO 8601 of system:time_start) first, then every scalar
-- property by name (':' written '_'), in name order.
function M.properties_metadata(id, props)
  local md = {}
  props = type(props) == "table" and props or {}
  if type(id) == "string" then md[#md + 1] = { "EE_ID", id } end
  if type(props["system:index"]) == "string" then md[#md + 1] = { "EE_INDEX", props["system:index"] } end
  local t = props["system:time_start"]
  if math.type(t) then md[#md + 1] = { "EE_DATE", iso8601(math.tointeger(t) or math.floor(t)) } end
  local keys = {}
  for k, v in pairs(props) do
    if type(v) ~= "table" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = props[k]
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then v = math.tointeger(v) end
    md[#md + 1] = { (k:gsub(":", "_")), tostring(v) }
  end
  return md
end

-- The red, green and blue bands of the catalogues people download most,
-- and plain names: when an output's first three bands are one of these,
-- in this order, they are its true colours.
local RGB = { { "B4", "B3", "B2" }, { "SR_B4", "SR_B3", "SR_B2" }, { "red", "green", "blue" },
              { "R", "G", "B" }, { "vis-red", "vis-green", "vis-blue" } }
function M.visible_rgb(bands)
  for _, t in ipairs(RGB) do
    if bands[1] and bands[2] and bands[3] and bands[1]:lower() == t[1]:lower() and
       bands[2]:lower() == t[2]:lower() and bands[3]:lower() == t[3]:lower() then
      return true
    end
  end
  return false
end

-- ---- projections --------------------------------------------------------

local function same_transform(a, b)
  if type(a) ~= "table" or type(b) ~= "table" or #a ~= #b then return false end
  for i = 1, #a do
    if math.abs(a[i] - b[i]) > 1e-12 * math.max(1, math.abs(a[i])) then return false end
  end
  return true
end

-- The projection every selected band shares: crs, transform (EE order), or
-- nil and a description of the differences.
function M.shared_projection(bands)
  local crs, tr = bands[1].crs, bands[1].crs_transform
  for i = 2, #bands do
    if bands[i].crs ~= crs or not same_transform(bands[i].crs_transform, tr) then
      local seen, list = {}, {}
      for _, b in ipairs(bands) do
        local k = string.format("%s %s", b.id, M.describe_projection(b.crs, b.crs_transform))
        if not seen[k] then seen[k] = true; list[#list + 1] = k end
      end
      return nil, table.concat(list, "; ")
    end
  end
  return crs, tr
end

function M.describe_projection(crs, tr)
  if type(tr) ~= "table" then return tostring(crs) end
  return string.format("%s with %.10g x %.10g pixels", tostring(crs), math.abs(tr[1]), math.abs(tr[5]))
end

-- The recipe keys that ask for that projection.
function M.suggest_keys(crs, tr)
  if crs == "EPSG:4326" then
    return string.format("crs = %q, pixel_size = %.10g", crs, math.abs(tr[1]))
  end
  return string.format("crs = %q, scale = %.10g", crs, math.abs(tr[1]))
end

-- EE gives composites (mosaics, reductions of collections) the default
-- projection: WGS84 at 1 degree. Downloading in it is never what a user wants.
function M.is_default_projection(crs, tr)
  return crs == "EPSG:4326" and same_transform(tr, { 1, 0, 0, 0, 1, 0 })
end

-- The projection of the first image of the first collection the image reads
-- (a suggestion for a composite), or nil.
function M.first_image_projection(img, bands, region)
  local cs = collections_of(img)
  if #cs == 0 then return nil end
  local ok, info = pcall(function()
    local c = region and cs[1]:filterBounds(region) or cs[1]
    return get(c:first())
  end)
  if not ok or type(info) ~= "table" or type(info.bands) ~= "table" then return nil end
  local by = {}
  for _, b in ipairs(info.bands) do by[b.id] = b end
  local b = by[bands[1]] or info.bands[1]
  if not b then return nil end
  return b.crs, b.crs_transform
end

return M
