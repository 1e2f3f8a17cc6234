-- download{} and plan{}: validate the recipe's table (raw access only, so no
-- user metamethod runs), serialize the image once, and hand a plain,
-- normalized table to the C host, which fills the engine's download spec.
local util = require "eefetch.util"
local host = require "eefetch.host"
local json = require "eefetch.json"

local imageinfo = require "eefetch.imageinfo"

local M = {}
local fail = util.fail

-- The validity band added when no value is free for nodata: 1 where every
-- downloaded band is valid, 0 where any is masked; the engine writes it as
-- the output's GDAL mask instead of a data band.
local MASK_BAND = "eefetch_mask"
local check_footprint

-- The mask band takes the output type: every band of an answer then has
-- one type, which the engine stores without converting pixel by pixel (a
-- uint8 mask beside uint16 data doubled the client's CPU and memory).
local MASK_CAST = { uint8 = "toUint8", int8 = "toInt8", uint16 = "toUint16", int16 = "toInt16",
                    uint32 = "toUint32", int32 = "toInt32", float32 = "toFloat", float64 = "toDouble" }

local function mask_band(img, bands, by_id, out_type)
  local valid
  for _, name in ipairs(bands) do
    -- By index: band names are regular expressions to Image.select.
    local m = img:select(by_id[name].index):mask():gt(0)
    valid = valid and valid:And(m) or m
  end
  local cast = MASK_CAST[out_type] or "toUint8"
  return img:addBands(valid[cast](valid):rename(MASK_BAND))
end

local function is_ee(v)
  local ee = require "eefetch.ee"
  return ee._is_ee(v)
end

local function describe(v)
  if is_ee(v) then return "ee." .. (require "eefetch.ee")._class_name(v) end
  return type(v)
end

-- The schema of download{} (below) is the one definition of its keys: key
-- -> checker(value, key) returning the normalized value. The C host reads
-- only what these checkers let through (and what M.complete derives from
-- it), so it checks none of it again: a name a checker admits is one the
-- host knows (tests/host/test_download_schema.sh).

-- Checks table t against schema: raw iteration (no user metamethod runs),
-- each value through its checker, and the one "unknown key" error, for
-- download{} itself and for the tables some of its keys take ("fishnet.").
local function check_table(t, schema, what, prefix)
  local out = {}
  for k, v in next, t do
    if type(k) ~= "string" then fail("%s{}: keys must be names (got a %s key)", what, type(k)) end
    local check = schema[k]
    if not check then
      fail("%s{}: unknown key '%s%s' (known keys: %s)", what, prefix, k,
           table.concat(util.sorted_keys(schema), ", "))
    end
    out[k] = check(v, prefix .. k)
  end
  return out
end
local function want(kind)
  return function(v, k)
    if type(v) ~= kind then fail("download{}: '%s' must be a %s (got %s)", k, kind, describe(v)) end
    return v
  end
end

local function positive_number(v, k)
  if type(v) ~= "number" or not (v > 0) then
    fail("download{}: '%s' must be a positive number (got %s)", k, tostring(v))
  end
  return v
end

local function positive_integer(v, k)
  if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) or v <= 0 then
    fail("download{}: '%s' must be a positive integer (got %s)", k, tostring(v))
  end
  return math.tointeger(v)
end

local function number_list(n)
  return function(v, k)
    if type(v) ~= "table" or is_ee(v) or rawlen(v) ~= n then
      fail("download{}: '%s' must be a list of %d numbers", k, n)
    end
    local out = {}
    for i = 1, n do
      local x = rawget(v, i)
      if type(x) ~= "number" then fail("download{}: '%s'[%d] must be a number (got %s)", k, i, type(x)) end
      out[i] = x
    end
    return out
  end
end

local function string_list(v, k)
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" or is_ee(v) then fail("download{}: '%s' must be a list of band names", k) end
  local out = {}
  for i = 1, rawlen(v) do
    local x = rawget(v, i)
    if type(x) ~= "string" then fail("download{}: '%s'[%d] must be a string (got %s)", k, i, type(x)) end
    out[i] = x
  end
  if #out == 0 then fail("download{}: '%s' must name at least one band", k) end
  return out
end

local function one_of(...)
  local set = {}
  for _, s in ipairs({ ... }) do set[s] = true end
  local names = table.concat({ ... }, ", ")
  return function(v, k)
    if type(v) ~= "string" or not set[v:lower()] then
      fail("download{}: '%s' must be one of %s (got %s)", k, names, tostring(v))
    end
    return v:lower()
  end
end

local function collection_value(v, k)
  local ee = require "eefetch.ee"
  if not is_ee(v) or ee._class_name(v) ~= "ImageCollection" then
    fail("download{}: '%s' must be an ee.ImageCollection (got %s)", k, describe(v))
  end
  return v
end

local function image_value(v, k)
  local ee = require "eefetch.ee"
  if not is_ee(v) then fail("download{}: '%s' must be an ee.Image (got %s)", k, describe(v)) end
  local cls = ee._class_name(v)
  if cls == "ImageCollection" then
    fail("download{}: '%s' is an ee.ImageCollection; reduce it to an image first (e.g. :median() or :mosaic()), " ..
         "or download every image of it with collection = ...", k)
  end
  if cls ~= "Image" then fail("download{}: '%s' must be an ee.Image (got ee.%s)", k, cls) end
  return v
end

-- EE rings need not repeat their first vertex; GeoJSON rings must.
local function close_rings(gtype, coords)
  local function close(ring)
    local out = {}
    for i = 1, rawlen(ring) do out[i] = rawget(ring, i) end
    local a, b = out[1], out[#out]
    if a and (a[1] ~= b[1] or a[2] ~= b[2]) then out[#out + 1] = { a[1], a[2] } end
    return out
  end
  local function polygon(p)
    local out = {}
    for i = 1, rawlen(p) do out[i] = close(rawget(p, i)) end
    return out
  end
  if gtype == "Polygon" then return polygon(coords) end
  local out = {}
  for i = 1, rawlen(coords) do out[i] = polygon(rawget(coords, i)) end
  return out
end

-- region: ee.Geometry (client-side), GeoJSON table, or {w, s, e, n}.
local function region_value(v, k)
  if is_ee(v) then
    local ee = require "eefetch.ee"
    if ee._class_name(v) ~= "Geometry" then
      fail("download{}: '%s' must be an ee.Geometry, a GeoJSON table or {west, south, east, north} (got %s)",
           k, describe(v))
    end
    if not v.gtype then
      fail("download{}: '%s' is a computed geometry; give a client-side one (ee.Geometry.*, geo.bbox, geo.read)", k)
    end
    local g = v:toGeoJSON()
    if g.type ~= "Polygon" and g.type ~= "MultiPolygon" then
      fail("download{}: '%s' must be a polygon or multipolygon (got %s)", k, g.type)
    end
    return { geojson = json.encode({ type = g.type, coordinates = close_rings(g.type, g.coordinates) }),
             crs = g.crs and g.crs.properties.name }
  end
  if type(v) ~= "table" then
    fail("download{}: '%s' must be an ee.Geometry, a GeoJSON table or {west, south, east, north} (got %s)", k, type(v))
  end
  if rawget(v, "type") ~= nil then
    local t = rawget(v, "type")
    if t ~= "Polygon" and t ~= "MultiPolygon" then
      fail("download{}: '%s' must be a Polygon or MultiPolygon GeoJSON geometry (got %s)", k, tostring(t))
    end
    local c = rawget(v, "coordinates")
    if type(c) ~= "table" then fail("download{}: '%s' GeoJSON has no coordinates", k) end
    return { geojson = json.encode({ type = t, coordinates = close_rings(t, c) }) }
  end
  local b = number_list(4)(v, k)
  if not (b[1] < b[3] and b[2] < b[4]) then
    fail("download{}: '%s' must be {west, south, east, north} with west < east and south < north", k)
  end
  if b[2] < -90 or b[4] > 90 then
    fail("download{}: '%s' = {west, south, east, north} has a latitude outside [-90, 90] (%s, %s): " ..
         "longitude comes first", k, tostring(b[2]), tostring(b[4]))
  end
  return { bbox = b }
end

-- The output types by name: the engine's names (core/spec.c, "auto" among
-- them) and EE's aliases (float, double, byte), normalized to the engine's.
local DTYPES = { float = "float32", double = "float64", byte = "uint8" }
local DTYPE_NAMES = {}
for _, name in ipairs(host.spec_names.dtype) do
  DTYPES[name] = name
  if name ~= "auto" then DTYPE_NAMES[#DTYPE_NAMES + 1] = name end
end
DTYPE_NAMES = table.concat(DTYPE_NAMES, ", ")

local function dtype_value(v, k)
  local t = type(v) == "string" and DTYPES[v:lower()]
  if not t then
    fail("download{}: 'dtype' must be one of %s (got %s)", DTYPE_NAMES, tostring(v))
  end
  return t
end

local FISHNET = { rows = positive_integer, cols = positive_integer, cell_width = positive_number,
                  cell_height = positive_number, cell = positive_number }

local function fishnet_value(v, k)
  if type(v) ~= "table" or is_ee(v) then
    fail("download{}: '%s' must be a table {rows=, cols=} or {cell_width=, cell_height=}", k)
  end
  local out = check_table(v, FISHNET, "download", k .. ".")
  if out.cell then out.cell_width, out.cell_height, out.cell = out.cell, out.cell, nil end
  if (out.rows or out.cols) and (out.cell_width or out.cell_height) then
    fail("download{}: '%s' takes either rows/cols or a cell size, not both", k)
  end
  if (out.rows == nil) ~= (out.cols == nil) then fail("download{}: '%s' needs both rows and cols", k) end
  if (out.cell_width == nil) ~= (out.cell_height == nil) then
    fail("download{}: '%s' needs both cell_width and cell_height", k)
  end
  return out
end

local function nodata_value(v, k)
  if v ~= false and type(v) ~= "number" then
    fail("download{}: '%s' must be a number, or false for none (got %s)", k, type(v))
  end
  return v
end

local function dims_value(v, k)
  local d = number_list(2)(v, k)
  return { positive_integer(d[1], k .. "[1]"), positive_integer(d[2], k .. "[2]") }
end

local function like_value(v, k)
  if type(v) ~= "string" then fail("download{}: '%s' must be the path of a GeoTIFF to copy the grid from", k) end
  return v
end

-- band_scale / band_offset: one number for every band, or a table by band name.
local function per_band_number(v, k)
  if type(v) == "number" then return v end
  if type(v) ~= "table" or is_ee(v) then
    fail("download{}: '%s' must be a number or a table of numbers by band name (got %s)", k, describe(v))
  end
  local out = {}
  for name, x in next, v do
    if type(name) ~= "string" or type(x) ~= "number" then
      fail("download{}: '%s' must map band names to numbers (got %s = %s)", k, tostring(name), tostring(x))
    end
    out[name] = x
  end
  return out
end

local schema = {
  band_scale = per_band_number,
  band_offset = per_band_number,
  image = image_value,
  collection = collection_value,
  layout = one_of("files", "stack", "cube"),
  band_names = want("string"),
  region = region_value,
  crs = want("string"),
  scale = positive_number,
  pixel_size = positive_number,
  crs_transform = number_list(6),
  dimensions = dims_value,
  like = like_value,
  bands = string_list,
  dtype = dtype_value,
  nodata = nodata_value,
  output = want("string"),
  quicklook = function(v, k)
    if v ~= true and v ~= false and type(v) ~= "string" then
      fail("download{}: '%s' must be a PNG path or true (got %s)", k, describe(v))
    end
    return v
  end,
  quicklook_palette = one_of("viridis", "gray", "terrain", "rdylgn", "magma"),
  -- The words the engine parses (core/spec.c), from the one list there.
  format = one_of(table.unpack(host.spec_names.format)),
  compression = one_of(table.unpack(host.spec_names.compression)),
  overviews = one_of("average", "nearest", "mode", "bilinear", "cubic"),
  fishnet = fishnet_value,
  split = want("boolean"),
  workers = positive_integer,
  max_tile_bytes = positive_integer,
  resume = want("boolean"),
  stac = want("boolean"),
  workload_tag = function(v, k)
    if v == false then return v end
    if type(v) ~= "string" or not (v:match("^[a-z0-9]$") or v:match("^[a-z0-9][-_a-z0-9]*[a-z0-9]$")) or #v > 63 then
      fail("download{}: '%s' must be Earth Engine's workload tag: 1 to 63 of a-z, 0-9, '-' and '_', starting " ..
           "and ending with a letter or digit (got %s), or false for none", k, tostring(v))
    end
    return v
  end,
  rgb = want("boolean"),
  overwrite = want("boolean"),
  credentials = want("string"),
  project = want("string"),
  via = one_of("interactive", "export", "auto"),
  bucket = function(v, k)
    if type(v) ~= "string" or not v:match("^gs://[a-z0-9][a-z0-9._-]+[a-z0-9]") then
      fail("download{}: '%s' must be a Cloud Storage URI, \"gs://<bucket>/<prefix>\", whose bucket name has 3 to " ..
           "63 lower-case letters, digits, '-', '_' or '.' (got %s)", k,
           type(v) == "string" and string.format("%q", v) or describe(v))
    end
    return v
  end,
  max_tasks = positive_integer,
  delete_exported = want("boolean"),
}

-- Validates t and returns the normalized table the host consumes.
function M.validate(t, what)
  if type(t) ~= "table" or is_ee(t) then
    fail("%s{} expects a table of options (got %s)", what, describe(t))
  end
  local out = check_table(t, schema, what, "")
  if out.image == nil and out.collection == nil then
    fail("%s{}: 'image' (an ee.Image) or 'collection' (an ee.ImageCollection, every image) is required", what)
  end
  if out.image ~= nil and out.collection ~= nil then
    fail("%s{}: give either 'image' or 'collection', not both", what)
  end
  if out.collection == nil then
    for _, k in ipairs({ "layout", "band_names" }) do
      if out[k] ~= nil then fail("%s{}: '%s' applies to a 'collection' download", what, k) end
    end
    if out.format == "zarr" or out.format == "netcdf" then
      fail("%s{}: format = %q is a datacube of a collection: give 'collection' and layout = \"cube\"", what,
           out.format)
    end
  end
  if out.output == nil and what == "download" then fail("download{}: 'output' is required") end
  if out.via == "export" and out.bucket == nil then
    fail("%s{}: via = \"export\" needs bucket = \"gs://<your-bucket>/<prefix>\" (Earth Engine writes the files " ..
         "there, eefetch downloads them; docs/export.md)", what)
  end
  if out.via ~= "export" and out.via ~= "auto" then
    for _, k in ipairs({ "max_tasks", "delete_exported" }) do
      if out[k] ~= nil then fail("%s{}: '%s' applies to via = \"export\" (or \"auto\")", what, k) end
    end
  end
  if out.via ~= nil and out.via ~= "interactive" and out.collection ~= nil then
    fail("%s{}: via = %q works for one image; a collection is downloaded interactively", what, out.via)
  end
  if out.like ~= nil then
    for _, k in ipairs({ "crs", "scale", "pixel_size", "crs_transform", "dimensions" }) do
      if out[k] ~= nil then fail("%s{}: 'like' gives the grid; do not combine it with '%s'", what, k) end
    end
  else
    if out.scale and out.pixel_size then
      fail("%s{}: give either 'scale' (metres) or 'pixel_size' (CRS units), not both", what)
    end
    if out.dimensions and not out.crs_transform then
      fail("%s{}: 'dimensions' needs 'crs_transform'", what)
    end
    if out.crs_transform then
      if not out.crs then fail("%s{}: 'crs_transform' needs 'crs'", what) end
      if out.scale or out.pixel_size then
        fail("%s{}: give either '%s' or 'crs_transform', not both", what, out.scale and "scale" or "pixel_size")
      end
      if not out.dimensions and not out.region then
        fail("%s{}: 'crs_transform' needs 'dimensions' = {width, height} or a 'region'", what)
      end
    elseif not out.region then
      if out.scale or out.pixel_size then
        fail("%s{}: 'region' is required with '%s'", what, out.scale and "scale" or "pixel_size")
      end
      fail("%s{}: 'region' is required (the area to download), or an exact grid: 'like', or " ..
           "'crs_transform' with 'dimensions'", what)
    end
  end
  if out.quicklook == true then
    if not out.output then fail("%s{}: 'quicklook = true' needs 'output'", what) end
    out.quicklook = (out.output:gsub("%.[^./]*$", "")) .. ".png"
  elseif out.quicklook == false then
    out.quicklook = nil
  end
  if out.resume == false and out.overwrite == nil then out.overwrite = false end
  if out.overwrite and out.resume then fail("%s{}: 'overwrite' and 'resume' exclude each other", what) end
  local ee = require "eefetch.ee"
  if t.region ~= nil then
    local r = rawget(t, "region")
    local ok, g = pcall(function()
      if is_ee(r) then return r end
      if rawget(r, "type") then return ee.Geometry(r) end
      return ee.Geometry.BBox(rawget(r, 1), rawget(r, 2), rawget(r, 3), rawget(r, 4))
    end)
    out._region_ee = ok and g or nil
  end
  if out.collection ~= nil then
    require("eefetch.collection").complete(out, what, M)
  else
    M.complete(out, what)
  end
  out._region_ee = nil
  out.expression = ee.serialize(out.image)
  out.image = nil
  out.collection = nil
  out.line, out.file = util.user_line()
  if out.workload_tag == nil then out.workload_tag = M.default_workload_tag(host.recipe_path) end
  if out.workload_tag == false then out.workload_tag = nil end
  return out
end

-- The recipe's file name as a workload tag ("S2 monthly.lua" ->
-- "s2-monthly"), so Earth Engine attributes a run's EECU cost to the
-- recipe; nil when nothing of the name fits.
function M.default_workload_tag(path)
  if type(path) ~= "string" or path == "" then return nil end
  local name = path:match("([^/]*)$"):gsub("%.[^.]*$", ""):lower():gsub("[^-_a-z0-9]", "-")
  name = name:gsub("^[-_]+", ""):sub(1, 63):gsub("[-_]+$", "")
  return name ~= "" and name or nil
end

-- The region swapped to latitude, longitude (the usual mistake), or nil
-- when it is not in lon/lat.
local function swapped_region(r)
  if r.bbox then return { bbox = { r.bbox[2], r.bbox[1], r.bbox[4], r.bbox[3] } } end
  if r.crs then return nil end
  local g = host.json_decode(r.geojson)
  local function swap(c)
    if type(c[1]) == "number" then return { c[2], c[1] } end
    local out = {}
    for i = 1, #c do out[i] = swap(c[i]) end
    return out
  end
  return { geojson = json.encode({ type = g.type, coordinates = swap(g.coordinates) }) }
end

-- A region that misses a bounded image is an empty download: say so before
-- anything is fetched, and whether latitude, longitude order explains it.
function check_footprint(out, selected, what)
  if not out.region then return end
  local b = selected[1]
  if type(b.dimensions) ~= "table" or type(b.crs_transform) ~= "table" or not b.crs then return end
  local meets = host.region_meets(out.region, b.crs, b.crs_transform, b.dimensions)
  if meets ~= false then return end
  local sw = swapped_region(out.region)
  local hint = ""
  if sw and host.region_meets(sw, b.crs, b.crs_transform, b.dimensions) then
    hint = "; with longitude and latitude swapped it would: give longitude first"
  end
  fail("%s{}: the region does not intersect the image (band %s covers %d x %d pixels of %s)%s", what, b.id,
       b.dimensions[1], b.dimensions[2], b.crs, hint)
end

-- What the server says of the image completes the table with EE's
-- defaults: every band, the image's own projection, and a way to tell
-- masked pixels (a nodata value no band can take, else a mask band).
function M.complete(out, what)
  imageinfo.set_account(out.credentials, out.project)
  local info = imageinfo.fetch(out.image, what)
  local by_id, ids = {}, {}
  for i, b in ipairs(info.bands) do
    by_id[b.id] = { band = b, index = i - 1 }
    ids[i] = b.id
  end
  if #ids == 0 then
    local why = imageinfo.explain_empty(out.image)
    fail("%s{}: the image has no bands%s", what, why and ("; " .. why) or "")
  end
  if out.bands then
    for _, name in ipairs(out.bands) do
      if not by_id[name] then
        fail("%s{}: band '%s' is not in the image; its bands are: %s", what, name, table.concat(ids, ", "))
      end
    end
  else
    out.bands = ids
  end
  local selected = {}
  for i, name in ipairs(out.bands) do selected[i] = by_id[name].band end
  check_footprint(out, selected, what)
  out.metadata_items = imageinfo.properties_metadata(info.id, info.properties)
  if out.rgb == nil then out.rgb = imageinfo.visible_rgb(out.bands) end
  M.choose_grid(out, selected, what, function(crs, tr)
    if imageinfo.is_default_projection(crs, tr) then
      local fcrs, ftr = imageinfo.first_image_projection(out.image, out.bands, out._region_ee)
      local hint = fcrs and string.format("; the first image of its collection%s is in %s: %s",
                                          out._region_ee and " over the region" or "",
                                          imageinfo.describe_projection(fcrs, ftr),
                                          imageinfo.suggest_keys(fcrs, ftr)) or ""
      fail("%s{}: the image has no projection of its own (a composite: Earth Engine gives it WGS84 at 1 degree); " ..
           "give 'crs' and 'scale'%s", what, hint)
    end
  end)
  M.choose_nodata(out, selected, function(out_type)
    out.image = mask_band(out.image, out.bands, by_id, out_type)
    out.bands[#out.bands + 1] = MASK_BAND
    out.mask_band = true
  end)
  M.band_scales(out, out.bands, what)
end

-- band_scale / band_offset stated by the recipe, as {scale, offset} per
-- output band (false: none), for band names names[i] (the mask band has
-- none); a name the keys give that no band has is an error.
function M.band_scales(out, names, what)
  local sc, of = out.band_scale, out.band_offset
  out.band_scale, out.band_offset = nil, nil
  if sc == nil and of == nil then return end
  local known = {}
  for _, n in ipairs(names) do known[n] = true end
  for _, t in ipairs({ { sc, "band_scale" }, { of, "band_offset" } }) do
    if type(t[1]) == "table" then
      for n in pairs(t[1]) do
        if not known[n] then fail("%s{}: '%s' names band '%s', which the download does not have", what, t[2], n) end
      end
    end
  end
  local list = {}
  for i, n in ipairs(names) do
    local s = type(sc) == "table" and sc[n] or type(sc) == "number" and sc or nil
    local o = type(of) == "table" and of[n] or type(of) == "number" and of or nil
    if n == MASK_BAND or (s == nil and o == nil) then
      list[i] = false
    else
      list[i] = { s or 1, o or 0 }
    end
  end
  out.band_scales = list
end

-- The grid: EE exports default to the image's own projection (every
-- selected band's); check(crs, transform) may refuse it first.
function M.choose_grid(out, selected, what, check)
  if out.like == nil and out.crs_transform == nil and (out.crs == nil or (not out.scale and not out.pixel_size)) then
    local crs, tr = imageinfo.shared_projection(selected)
    if not crs then
      fail("%s{}: the bands have different projections (%s); give 'crs' and 'scale'", what, tr)
    end
    check(crs, tr)
    if out.crs == nil then out.crs = crs end
    if not out.scale and not out.pixel_size then
      if out.crs ~= crs then
        fail("%s{}: give 'scale' (metres) or 'pixel_size' with crs = %q (the image's own projection is %s)",
             what, out.crs, imageinfo.describe_projection(crs, tr))
      end
      out.crs_transform = tr
    end
  end
end

-- Masked pixels: a nodata value free in the output type, else
-- no_free_value(output type) decides (a mask band, a wider type).
function M.choose_nodata(out, selected, no_free_value)
  local types, ranges = {}, {}
  for i, b in ipairs(selected) do
    types[i] = imageinfo.band_type(b.data_type) or "float64"
    local dt = b.data_type or {}
    ranges[i] = dt.precision == "int" and type(dt.min) == "number" and { dt.min, dt.max } or false
  end
  local out_type = out.dtype and out.dtype ~= "auto" and out.dtype or imageinfo.union_type(types)
  if out.nodata == false then
    out.nodata = nil
  elseif out.nodata == nil then
    local free = imageinfo.free_value(out_type, ranges)
    out.dtype = out_type
    if free ~= nil then
      out.nodata = free
    else
      no_free_value(out_type, ranges)
    end
  end
end

function M.download(t)
  local spec = M.validate(t, "download")
  local ok, res = pcall(host.download, spec)
  if not ok then error(string.format("%s:%d: %s", spec.file, spec.line, tostring(res)), 0) end
  return res
end

function M.plan(t)
  local spec = M.validate(t, "plan")
  local ok, res = pcall(host.plan, spec)
  if not ok then error(string.format("%s:%d: %s", spec.file, spec.line, tostring(res)), 0) end
  return res
end

return M
