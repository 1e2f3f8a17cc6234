-- download{ collection = ic, layout = ... }: every image of a collection on
-- one shared grid, as one job. The images are stacked into one image with
-- EE's own ImageCollection.toBands (bands "<system:index>_<band>"), so the
-- engine plans, fetches, journals and resumes them as one download sharing
-- one concurrency budget; the layout only decides what is written from the
-- stored tiles: a file per image, one multi-band stack, or a datacube.
local util = require "eefetch.util"
local imageinfo = require "eefetch.imageinfo"
local host = require "eefetch.host"
local json = require "eefetch.json"

local M = {}
local fail = util.fail

-- EE's getInfo gives at most 5000 elements of a collection.
local MAX_IMAGES = 5000

-- When no value of the bands' type is free for nodata, a collection's
-- output takes the next wider type (one mask for all bands of a stack or a
-- cube cannot tell one image's masked pixels from another's).
local WIDER = { uint8 = "int16", int8 = "int16", uint16 = "int32", int16 = "int32",
                uint32 = "float64", int32 = "float64" }

-- Names a datacube's coordinates and grid mapping take (cube.h).
local CUBE_RESERVED = { time = true, x = true, y = true, image_id = true, spatial_ref = true }

local split_ms = util.split_ms

-- ---- templates ----------------------------------------------------------

-- What may appear in a name: letters, digits, '.', '-', '_'; anything
-- else (a '/' of an asset id, spaces) becomes '-' or '_'.
local function file_safe(s)
  return (tostring(s):gsub("/", "-"):gsub("[^%w%._%-]", "_"))
end

local FIELDS_DOC = "{id}, {index}, {date}, {datetime}, {n}, {band} (band_names only) or any image property, " ..
                   "e.g. {MGRS_TILE}"

-- The value of field f for image img (a table made by `images` below).
local function field(img, f, band, what, key, count)
  if f == "id" then return img.id and file_safe(img.id) or file_safe(img.index) end
  if f == "index" then return file_safe(img.index) end
  if f == "n" then return string.format("%0" .. #tostring(count) .. "d", img.n) end
  if f == "band" and band then return band end
  if f == "date" or f == "datetime" then
    if not img.time_ms then
      fail("%s{}: image %s has no system:time_start, so '%s' cannot name it by {%s}; use {index} or {id}",
           what, img.id or img.index, key, f)
    end
    local y, m, d, hh, mm, ss = split_ms(img.time_ms)
    if f == "date" then return string.format("%04d-%02d-%02d", y, m, d) end
    return string.format("%04d%02d%02dT%02d%02d%02d", y, m, d, hh, mm, ss)
  end
  local v = img.props[f]
  if v == nil or type(v) == "table" then
    fail("%s{}: '%s' names the field {%s}, which image %s does not have as a plain value (fields: %s)",
         what, key, f, img.id or img.index, FIELDS_DOC)
  end
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then v = math.tointeger(v) end
  return file_safe(v)
end

local function expand(template, img, band, what, key, count)
  return (template:gsub("{([^{}]*)}", function(f) return field(img, f, band, what, key, count) end))
end

-- ---- the collection as EE describes it ----------------------------------

local function images(info, what)
  local feats = type(info) == "table" and info.features
  if type(feats) ~= "table" then fail("%s{}: 'collection' did not evaluate to an image collection", what) end
  local out = {}
  for k, f in ipairs(feats) do
    local props = type(f.properties) == "table" and f.properties or {}
    local t = props["system:time_start"]
    out[k] = { n = k, id = type(f.id) == "string" and f.id or nil,
               index = type(props["system:index"]) == "string" and props["system:index"] or tostring(k - 1),
               time_ms = math.type(t) and math.tointeger(t) or nil, props = props,
               bands = type(f.bands) == "table" and f.bands or {} }
  end
  return out
end


-- The band whose projection every band shares up to a shift by whole
-- pixels, or nil.
local function shared_lattice(bands)
  local b1 = bands[1]
  local t = b1.crs_transform
  if type(t) ~= "table" or #t ~= 6 or t[1] == 0 or t[5] == 0 then return nil end
  for i = 2, #bands do
    local u = bands[i].crs_transform
    if bands[i].crs ~= b1.crs or type(u) ~= "table" or #u ~= 6 then return nil end
    for _, j in ipairs({ 1, 2, 4, 5 }) do
      if math.abs(u[j] - t[j]) > 1e-12 * math.max(1, math.abs(t[j])) then return nil end
    end
    for _, j in ipairs({ { 3, 1 }, { 6, 5 } }) do
      local shift = (u[j[1]] - t[j[1]]) / t[j[2]]
      if math.abs(shift - math.floor(shift + 0.5)) > 1e-6 then return nil end
    end
  end
  return b1
end

-- ---- pinned recipes ------------------------------------------------------

-- The lock file (plan --lock writes it, --locked reads it): per download,
-- keyed by its output, the images in order with id, index and version.
local lock = { read = nil, written = {} }

local function lock_entry(key, what)
  if not lock.read then
    local text, why = host.lock_read()
    if not text then fail("%s{}: %s", what, why) end
    local ok, t = pcall(host.json_decode, text)
    if not ok or type(t) ~= "table" or type(t.downloads) ~= "table" then
      fail("%s{}: the lock file is not one eefetch wrote (no \"downloads\" list): make it again with " ..
           "`eefetch plan --lock`", what)
    end
    lock.read = t.downloads
  end
  for _, d in ipairs(lock.read) do
    if d.output == key and type(d.images) == "table" then return d end
  end
  fail("%s{}: the lock file has no images for output %q (the recipe changed since it was made?): run " ..
       "`eefetch plan --lock` again", what, key)
end

-- Under --locked: the recipe's collection cut to the locked images.
local function apply_lock(ic, key, what)
  local ee = require "eefetch.ee"
  local entry = lock_entry(key, what)
  local idx = {}
  for i, img in ipairs(entry.images) do idx[i] = img.index end
  return ic:filter(ee.Filter.inList("system:index", idx)), entry
end

-- Every locked image is there, unchanged (EE keeps no old versions: an
-- image updated since cannot give the locked pixels).
local function check_lock(entry, imgs, what)
  local by = {}
  for _, img in ipairs(imgs) do by[img.index] = img end
  for _, l in ipairs(entry.images) do
    local img = by[l.index]
    if not img then
      fail("%s{}: locked image %s no longer exists (or no longer passes the recipe's filters); the " ..
           "locked download cannot be repeated: run `eefetch plan --lock` to pin today's images", what,
           l.id or l.index)
    end
    local v = img.props["system:version"]
    if l.version ~= nil and v ~= nil and tostring(l.version) ~= tostring(v) then
      fail("%s{}: locked image %s changed since the lock (system:version %s, now %s); its old pixels are " ..
           "gone: run `eefetch plan --lock` to pin the new version", what, l.id or l.index,
           tostring(l.version), tostring(v))
    end
  end
end

local function record_lock(key, imgs)
  local list = {}
  for i, img in ipairs(imgs) do
    local v = img.props["system:version"]
    list[i] = { id = img.id, index = img.index, version = v ~= nil and tostring(v) or nil }
  end
  local found
  for _, d in ipairs(lock.written) do
    if d.output == key then d.images, found = list, true end
  end
  if not found then lock.written[#lock.written + 1] = { output = key, images = list } end
  host.lock_write(json.encode({ eefetch_lock = 1, recipe = host.recipe_path, downloads = lock.written }) .. "\n")
end

local function output_checks(out, what)
  local layout = out.layout
  if out.split then fail("%s{}: 'split' does not apply to a collection (its layout gives the files)", what) end
  if out.quicklook then fail("%s{}: 'quicklook' does not apply to a collection download", what) end
  if out.format == "vrt" then fail("%s{}: format = \"vrt\" does not apply to a collection download", what) end
  if layout ~= "stack" and out.band_names then
    fail("%s{}: 'band_names' names the bands of layout = \"stack\"", what)
  end
  if layout == "files" then
    if out.format == "zarr" or out.format == "netcdf" then
      fail("%s{}: format = %q is a datacube: give layout = \"cube\"", what, out.format)
    end
    if not out.output:find("{[^{}]*}") then
      fail("%s{}: with layout = \"files\", 'output' names each image's file by a template with fields, " ..
           "e.g. \"s2_{date}_{index}.tif\" (fields: %s)", what, FIELDS_DOC)
    end
    if out.output:match("{[^{}]*}.*/") then
      fail("%s{}: fields of 'output' may name files, not folders (%s)", what, out.output)
    end
  elseif layout == "cube" then
    local ext = out.output:lower():match("%.(%w+)/?$")
    local by_ext = ext == "zarr" and "zarr" or (ext == "nc" or ext == "nc4") and "netcdf" or nil
    if out.format and out.format ~= "zarr" and out.format ~= "netcdf" then
      fail("%s{}: layout = \"cube\" writes format = \"zarr\" or \"netcdf\" (got %q)", what, out.format)
    end
    out.format = out.format or by_ext
    if not out.format then
      fail("%s{}: layout = \"cube\" needs an output ending in .zarr or .nc (or format = \"zarr\"/\"netcdf\")", what)
    end
    out.output = out.output:gsub("/$", "")
  else
    if out.format == "zarr" or out.format == "netcdf" then
      fail("%s{}: format = %q is a datacube: give layout = \"cube\"", what, out.format)
    end
    if out.output:find("{[^{}]*}") then
      fail("%s{}: layout = \"stack\" writes one file; 'output' has template fields (%s): did you mean " ..
           "layout = \"files\"?", what, out.output)
    end
  end
end

-- Fills out for a collection download (see recipe.lua's M.complete for one
-- image): bands, grid, type and nodata, the stacked image and the parts.
function M.complete(out, what, recipe)
  out.layout = out.layout or "files"
  if out.output then output_checks(out, what) end
  imageinfo.set_account(out.credentials, out.project)
  local ic = out.collection
  local mode = host.lock_mode()
  local entry
  if mode == "locked" then ic, entry = apply_lock(ic, out.output or "", what) end
  local info = imageinfo.fetch_value(ic, what)
  local imgs = images(info, what)
  if entry then check_lock(entry, imgs, what) end
  if mode == "lock" then record_lock(out.output or "", imgs) end
  if #imgs == 0 then
    local why = imageinfo.explain_empty(ic)
    fail("%s{}: the collection is empty%s", what, why and ("; " .. why) or "")
  end
  if #imgs > MAX_IMAGES then
    fail("%s{}: the collection has %d images; Earth Engine lists at most %d: filter it further or split it " ..
         "into several downloads (e.g. by date)", what, #imgs, MAX_IMAGES)
  end

  -- Bands: the recipe's, else the first image's; every image needs them.
  if not out.bands then
    out.bands = {}
    for i, b in ipairs(imgs[1].bands) do out.bands[i] = b.id end
    if #out.bands == 0 then fail("%s{}: the first image of the collection has no bands", what) end
  end
  for _, name in ipairs(out.layout == "cube" and out.bands or {}) do
    if CUBE_RESERVED[name] then
      fail("%s{}: band '%s' would be a datacube variable named like one of its coordinates (time, x, y, " ..
           "image_id, spatial_ref); rename it in the collection first (Image.rename in a map)", what, name)
    end
  end
  local selected = {}
  for _, img in ipairs(imgs) do
    local by = {}
    for _, b in ipairs(img.bands) do by[b.id] = b end
    for _, name in ipairs(out.bands) do
      local b = by[name]
      if not b then
        local have = {}
        for i, x in ipairs(img.bands) do have[i] = x.id end
        fail("%s{}: image %s of the collection has no band '%s' (its bands: %s); select bands every image has",
             what, img.id or img.index, name, table.concat(have, ", "))
      end
      selected[#selected + 1] = b
    end
    if out.layout == "cube" and not img.time_ms then
      fail("%s{}: image %s has no system:time_start; a datacube's time axis needs one for every image " ..
           "(use layout = \"files\" or \"stack\")", what, img.id or img.index)
    end
  end

  -- The grid: the images' own projection when they all share one pixel
  -- lattice (neighbouring tiles of one UTM zone do: their origins differ
  -- by whole pixels); the first image's transform then names it.
  local lattice = shared_lattice(selected)
  recipe.choose_grid(out, lattice and { lattice } or selected, what, function(crs, tr)
    if imageinfo.is_default_projection(crs, tr) then
      fail("%s{}: the collection's images have no projection of their own (computed images get WGS84 at " ..
           "1 degree); give 'crs' and 'scale'", what)
    end
  end)

  -- One type for all; nodata free in it, else in the next wider type.
  recipe.choose_nodata(out, selected, function(out_type, ranges)
    local wider = WIDER[out_type]
    out.dtype = wider
    out.nodata = imageinfo.free_value(wider, ranges)
  end)

  -- The stack, and what each image's bands are called in it and out of it.
  local ids, names, parts, nb = {}, {}, {}, #out.bands
  local seen_path, seen_name = {}, {}
  for k, img in ipairs(imgs) do
    local part = { band0 = (k - 1) * nb, nbands = nb, id = img.id, time_ms = img.time_ms,
                   metadata = imageinfo.properties_metadata(img.id, img.props) }
    for j, band in ipairs(out.bands) do
      local i = (k - 1) * nb + j
      ids[i] = img.index .. "_" .. band
      if out.layout == "stack" then
        names[i] = expand(out.band_names or "{band}_{date}", img, band, what, "band_names", #imgs)
        if seen_name[names[i]] then
          fail("%s{}: images %s and %s give the same band name '%s'; set band_names, e.g. \"{band}_{index}\"",
               what, seen_name[names[i]], img.id or img.index, names[i])
        end
        seen_name[names[i]] = img.id or img.index
      else
        names[i] = band
      end
    end
    if out.layout == "files" and out.output then
      part.path = expand(out.output, img, nil, what, "output", #imgs)
      if seen_path[part.path] then
        fail("%s{}: images %s and %s would both be written to %s; add a field that tells them apart, " ..
             "e.g. {index}", what, seen_path[part.path], img.id or img.index, part.path)
      end
      seen_path[part.path] = img.id or img.index
    end
    parts[k] = part
  end
  local sel = {}
  for i, b in ipairs(out.bands) do sel[i] = b end
  if out.rgb == nil and out.layout == "files" then out.rgb = imageinfo.visible_rgb(out.bands) end
  out.image = ic:select(sel):toBands()
  local per_stack = {}
  for k = 1, #imgs do
    for j, band in ipairs(out.bands) do per_stack[(k - 1) * nb + j] = band end
  end
  recipe.band_scales(out, per_stack, what)
  out.bands = ids
  if out.layout ~= "files" then
    local list = {}
    for i, img in ipairs(imgs) do list[i] = img.id or img.index end
    out.metadata_items = { { "EE_IMAGE_IDS", table.concat(list, ",") } }
  end
  out.collection_parts = { layout = out.layout, parts = parts, names = names,
                           bands_per_image = out.layout ~= "stack" and nb or nil }
  out.images = #imgs
  out.layout, out.band_names = nil, nil
end

return M
