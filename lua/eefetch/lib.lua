-- The recipe library: cloud and shadow masks, scale factors, composites and
-- spectral indices for the collections people download most. Every function
-- builds its expression with `ee` exactly as the same chain written with the
-- official JS client would (tests/host/golden_cases.txt holds both forms), so
-- each graph is one Earth Engine accepts. Recipes reach it as the global `lib`
-- or with `require "eefetch.lib"`; `:help lib.NAME` in the REPL shows the
-- one-line help kept in `lib.help`.
local ee = require "eefetch.ee"
local util = require "eefetch.util"

local fail = util.fail

local lib = { mask = {}, scale = {}, composite = {}, index = {}, help = {} }

local function opt(opts, key, default)
  if opts == nil then return default end
  if type(opts) ~= "table" then fail("options must be a table of name = value") end
  local v = opts[key]
  if v == nil then return default end
  return v
end

-- Refuses option names a function does not take (a typo would otherwise
-- silently give the default).
local function check_opts(fname, opts, allowed)
  if opts == nil then return end
  if type(opts) ~= "table" then fail("lib.%s: options must be a table of name = value", fname) end
  for k in pairs(opts) do
    if not allowed[k] then
      fail("lib.%s: unknown option '%s' (options: %s)", fname, tostring(k),
           table.concat(util.sorted_keys(allowed), ", "))
    end
  end
end

local function need_image(fname, img)
  if type(img) ~= "table" then fail("lib.%s: expects an ee.Image, got a %s", fname, type(img)) end
end

---------------------------------------------------------------------------
-- Masks
---------------------------------------------------------------------------

-- Sentinel-2 Level-2A scene classification (band SCL): 0 no data,
-- 1 saturated or defective, 2 dark area pixels, 3 cloud shadows,
-- 4 vegetation, 5 not vegetated, 6 water, 7 unclassified, 8 cloud medium
-- probability, 9 cloud high probability, 10 thin cirrus, 11 snow or ice.
local SCL_MASKED = { 0, 1, 3, 8, 9, 10 }

function lib.mask.s2_scl(img, opts)
  need_image("mask.s2_scl", img)
  check_opts("mask.s2_scl", opts, { snow = true, classes = true })
  local classes = opt(opts, "classes", nil)
  if classes == nil then
    classes = {}
    for i, c in ipairs(SCL_MASKED) do classes[i] = c end
    if opt(opts, "snow", false) then classes[#classes + 1] = 11 end
  end
  if type(classes) ~= "table" or #classes == 0 then
    fail("lib.mask.s2_scl: 'classes' must be a non-empty list of SCL class numbers")
  end
  local scl = img:select("SCL")
  local keep = scl:neq(classes[1])
  for i = 2, #classes do keep = keep:And(scl:neq(classes[i])) end
  return img:updateMask(keep)
end
lib.help["mask.s2_scl"] = "mask.s2_scl(img, {snow=false, classes=nil}): mask S2 L2A pixels whose SCL class is " ..
  "0 no data, 1 defective, 3 shadow, 8/9 cloud, 10 cirrus (and 11 snow with snow=true)"

-- Sentinel-2 QA60 (L1C and L2A): bit 10 opaque clouds, bit 11 cirrus.
function lib.mask.s2_qa60(img)
  need_image("mask.s2_qa60", img)
  local qa = img:select("QA60")
  local keep = qa:bitwiseAnd(1024):eq(0):And(qa:bitwiseAnd(2048):eq(0))
  return img:updateMask(keep)
end
lib.help["mask.s2_qa60"] = "mask.s2_qa60(img): mask S2 pixels with QA60 bit 10 (opaque cloud) or bit 11 (cirrus) set"

-- Cloud Score+ (GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED): per-pixel
-- usability in [0, 1], higher is clearer. Linked to each S2 image by
-- system:index, as geedim's default S2 mask does (band cs, threshold 0.6).
lib.CLOUD_SCORE_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"

function lib.mask.s2_cloud_score(coll, opts)
  if type(coll) ~= "table" then fail("lib.mask.s2_cloud_score: expects an ee.ImageCollection of Sentinel-2 images") end
  check_opts("mask.s2_cloud_score", opts, { threshold = true, band = true, collection = true })
  local threshold = opt(opts, "threshold", 0.6)
  local band = opt(opts, "band", "cs")
  if type(threshold) ~= "number" or threshold < 0 or threshold > 1 then
    fail("lib.mask.s2_cloud_score: threshold must be a number in [0, 1] (default 0.6)")
  end
  if band ~= "cs" and band ~= "cs_cdf" then
    fail("lib.mask.s2_cloud_score: band must be 'cs' or 'cs_cdf' (default 'cs')")
  end
  local scores = ee.ImageCollection(opt(opts, "collection", lib.CLOUD_SCORE_PLUS))
  return coll:linkCollection(scores, { band }):map(function(img)
    return img:updateMask(img:select(band):gte(threshold))
  end)
end
lib.help["mask.s2_cloud_score"] = "mask.s2_cloud_score(coll, {threshold=0.6, band='cs'}): link Cloud Score+ to each " ..
  "S2 image and mask pixels whose score is below the threshold"

-- Landsat 4-9 Collection 2 Level 2, QA_PIXEL: bit 0 fill, 1 dilated cloud,
-- 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow; QA_RADSAT: a set bit means
-- that band saturated (any set bit masks the pixel).
function lib.mask.landsat_l2(img, opts)
  need_image("mask.landsat_l2", img)
  check_opts("mask.landsat_l2", opts, { snow = true, saturation = true, dilated = true, cirrus = true })
  local bits = 1 + 8 + 16                                       -- fill, cloud, shadow
  if opt(opts, "dilated", true) then bits = bits + 2 end
  if opt(opts, "cirrus", true) then bits = bits + 4 end
  if opt(opts, "snow", false) then bits = bits + 32 end
  local out = img:updateMask(img:select("QA_PIXEL"):bitwiseAnd(bits):eq(0))
  if opt(opts, "saturation", true) then
    out = out:updateMask(img:select("QA_RADSAT"):eq(0))
  end
  return out
end
lib.help["mask.landsat_l2"] = "mask.landsat_l2(img, {snow=false, saturation=true, dilated=true, cirrus=true}): " ..
  "mask Landsat C2 L2 fill, cloud, shadow (QA_PIXEL bits 0-5) and saturated pixels (QA_RADSAT)"

---------------------------------------------------------------------------
-- Scale factors (integer DNs to physical units, band names kept)
---------------------------------------------------------------------------

-- Landsat C2 L2: SR = DN * 0.0000275 - 0.2 (reflectance); ST = DN *
-- 0.00341802 + 149.0 (kelvin).
function lib.scale.landsat_l2(img)
  need_image("scale.landsat_l2", img)
  local optical = img:select("SR_B.*"):multiply(0.0000275):add(-0.2)
  local thermal = img:select("ST_B.*"):multiply(0.00341802):add(149)
  return img:addBands({ srcImg = optical, overwrite = true }):addBands({ srcImg = thermal, overwrite = true })
end
lib.help["scale.landsat_l2"] = "scale.landsat_l2(img): Landsat C2 L2 SR_B* to reflectance (x 0.0000275 - 0.2) and " ..
  "ST_B* to kelvin (x 0.00341802 + 149), other bands unchanged"

-- Sentinel-2 L1C/L2A: reflectance = (DN + offset) / 10000. The harmonized
-- collections (COPERNICUS/S2_SR_HARMONIZED, S2_HARMONIZED) already remove
-- the +1000 added from processing baseline 04.00 on, so offset is 0; for
-- the non-harmonized collections' newer scenes give offset = -1000.
function lib.scale.s2(img, opts)
  need_image("scale.s2", img)
  check_opts("scale.s2", opts, { offset = true })
  local offset = opt(opts, "offset", 0)
  if type(offset) ~= "number" then fail("lib.scale.s2: offset must be a number (0, or -1000)") end
  local dn = img:select("B.*")
  if offset ~= 0 then dn = dn:add(offset) end
  return img:addBands({ srcImg = dn:multiply(0.0001), overwrite = true })
end
lib.help["scale.s2"] = "scale.s2(img, {offset=0}): Sentinel-2 B* bands to reflectance ((DN + offset) / 10000), " ..
  "other bands unchanged; offset=-1000 for non-harmonized scenes of baseline 04.00+"

---------------------------------------------------------------------------
-- Composites (collection to one image)
---------------------------------------------------------------------------

function lib.composite.median(coll) return coll:median() end
function lib.composite.mean(coll) return coll:mean() end
function lib.composite.min(coll) return coll:min() end
function lib.composite.max(coll) return coll:max() end
lib.help["composite.median"] = "composite.median(coll): per-pixel median of unmasked values, band names kept"
lib.help["composite.mean"] = "composite.mean(coll): per-pixel mean of unmasked values, band names kept"
lib.help["composite.min"] = "composite.min(coll): per-pixel minimum of unmasked values, band names kept"
lib.help["composite.max"] = "composite.max(coll): per-pixel maximum of unmasked values, band names kept"

function lib.composite.percentile(coll, p)
  if type(p) ~= "number" or p < 0 or p > 100 then
    fail("lib.composite.percentile: the percentile must be a number in [0, 100]")
  end
  return coll:reduce(ee.Reducer.percentile({ p }))
end
lib.help["composite.percentile"] = "composite.percentile(coll, p): per-pixel p-th percentile; bands are named BAND_pP " ..
  "(e.g. B4_p25), as EE names them"

-- Quality mosaic: at each pixel, all bands of the image whose `band` is
-- largest (greenest pixel with an NDVI band).
function lib.composite.quality(coll, band)
  if type(band) ~= "string" then fail("lib.composite.quality: give the quality band's name, e.g. 'NDVI'") end
  return coll:qualityMosaic(band)
end
lib.help["composite.quality"] = "composite.quality(coll, band): per pixel, the image with the largest value of band " ..
  "(greenest pixel: band='NDVI')"

-- Medoid: per pixel, the image closest (squared distance over `bands`) to
-- the per-band median of the stack. The added band medoid_score (minus the
-- distance) is kept in the result.
function lib.composite.medoid(coll, bands)
  if type(bands) ~= "table" or #bands == 0 then
    fail("lib.composite.medoid: give the list of bands the distance is measured on, e.g. {'B2','B3','B4','B8'}")
  end
  local median = coll:select(bands):median()
  local scored = coll:map(function(img)
    local score = img:select(bands):subtract(median):pow(2):reduce(ee.Reducer.sum()):multiply(-1)
    return img:addBands(score:rename("medoid_score"))
  end)
  return scored:qualityMosaic("medoid_score")
end
lib.help["composite.medoid"] = "composite.medoid(coll, bands): per pixel, the image nearest the median over bands " ..
  "(adds band medoid_score)"

-- First valid: per pixel, the earliest image (by system:time_start) with
-- an unmasked value. EE's mosaic() puts the last image on top, hence the
-- descending sort.
function lib.composite.first_valid(coll)
  return coll:sort("system:time_start", false):mosaic()
end
lib.help["composite.first_valid"] = "composite.first_valid(coll): per pixel, the earliest unmasked image"

-- Calendar composites: one image per month (step = "month"), season
-- (step = "season": DJF, MAM, JJA, SON) or `months` months between start
-- (inclusive) and stop (exclusive), each made by opts.reduce (default
-- lib.composite.median) and carrying system:time_start/system:time_end of
-- its period and a `period` label ("2023-06", "2023-JJA").
local function parse_day(s, what)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then fail("lib.composite.calendar: %s must be a date 'YYYY-MM-DD', got %s", what, tostring(s)) end
  return tonumber(y), tonumber(m), tonumber(d)
end

local days_from_civil = util.days_from_civil

local SEASONS = { [12] = "DJF", [1] = "DJF", [2] = "DJF", [3] = "MAM", [4] = "MAM", [5] = "MAM",
                  [6] = "JJA", [7] = "JJA", [8] = "JJA", [9] = "SON", [10] = "SON", [11] = "SON" }

-- The periods of a calendar: a list of {start = "YYYY-MM-DD", stop =
-- "YYYY-MM-DD", label = ..., t0 = ms, t1 = ms}, computed here (no request),
-- so a recipe can loop over them (one download per month, say).
function lib.composite.periods(start, stop, opts)
  check_opts("composite.periods", opts, { step = true, months = true, reduce = true })
  local step = opt(opts, "step", "month")
  local months
  if step == "month" then months = 1
  elseif step == "season" then months = 3
  else fail("lib.composite.calendar: step must be 'month' or 'season'") end
  months = opt(opts, "months", months)
  if math.type(months) ~= "integer" or months < 1 then fail("lib.composite.calendar: months must be a positive integer") end
  local y, m, d = parse_day(start, "start")
  local y1, m1, d1 = parse_day(stop, "stop")
  if d ~= 1 then fail("lib.composite.calendar: start must be the first day of a month") end
  if step == "season" and opt(opts, "months", nil) == nil and m % 3 ~= 0 then
    fail("lib.composite.calendar: seasons start in December, March, June or September (start %s)", start)
  end
  local stop_day = days_from_civil(y1, m1, d1)
  local out = {}
  while days_from_civil(y, m, 1) < stop_day do
    local ny, nm = y, m + months
    while nm > 12 do ny, nm = ny + 1, nm - 12 end
    if #out >= 1200 then fail("lib.composite.calendar: more than 1200 periods between %s and %s", start, stop) end
    out[#out + 1] = {
      start = string.format("%04d-%02d-01", y, m), stop = string.format("%04d-%02d-01", ny, nm),
      t0 = days_from_civil(y, m, 1) * 86400000, t1 = days_from_civil(ny, nm, 1) * 86400000,
      label = step == "season" and string.format("%04d-%s", m == 12 and y + 1 or y, SEASONS[m])
              or string.format("%04d-%02d", y, m),
    }
    y, m = ny, nm
  end
  if #out == 0 then fail("lib.composite.calendar: no period between %s and %s", start, stop) end
  return out
end
lib.help["composite.periods"] = "composite.periods(start, stop, {step='month'|'season', months=n}): the calendar's " ..
  "periods as a Lua list of {start, stop, label}, for one download per period"

function lib.composite.calendar(coll, start, stop, opts)
  local reduce = opt(opts, "reduce", lib.composite.median)
  if type(reduce) ~= "function" then fail("lib.composite.calendar: reduce must be a function(collection) -> image") end
  local images = {}
  for i, p in ipairs(lib.composite.periods(start, stop, opts)) do
    local img = reduce(coll:filterDate(p.start, p.stop))
    images[i] = img:set("system:time_start", p.t0):set("system:time_end", p.t1):set("period", p.label)
  end
  return ee.ImageCollection(images)
end
lib.help["composite.calendar"] = "composite.calendar(coll, start, stop, {step='month'|'season', months=n, " ..
  "reduce=lib.composite.median}): one composite per period, with system:time_start and a period label"

---------------------------------------------------------------------------
-- Spectral indices (one band, named after the index)
---------------------------------------------------------------------------

-- Band names per sensor: Sentinel-2 (L1C and L2A) and Landsat 8/9 C2 L2.
lib.BANDS = {
  s2 = { blue = "B2", green = "B3", red = "B4", nir = "B8", swir1 = "B11", swir2 = "B12" },
  landsat89 = { blue = "SR_B2", green = "SR_B3", red = "SR_B4", nir = "SR_B5", swir1 = "SR_B6", swir2 = "SR_B7" },
  landsat457 = { blue = "SR_B1", green = "SR_B2", red = "SR_B3", nir = "SR_B4", swir1 = "SR_B5", swir2 = "SR_B7" },
}

local function bands_for(fname, sensor, needed)
  local b = sensor
  if type(sensor) == "string" then
    b = lib.BANDS[sensor]
    if not b then fail("lib.index.%s: unknown sensor '%s' (s2, landsat89, landsat457, or a table of band names)", fname, sensor) end
  elseif type(sensor) ~= "table" then
    fail("lib.index.%s: give the sensor ('s2', 'landsat89', 'landsat457') or a table such as {nir='B8', red='B4'}", fname)
  end
  for _, k in ipairs(needed) do
    if type(b[k]) ~= "string" then fail("lib.index.%s: the band table has no '%s' band name", fname, k) end
  end
  return b
end

local function nd(fname, label, first, second)
  return function(img, sensor)
    need_image("index." .. fname, img)
    local b = bands_for(fname, sensor, { first, second })
    return img:normalizedDifference({ b[first], b[second] }):rename(label)
  end
end

lib.index.ndvi = nd("ndvi", "NDVI", "nir", "red")
lib.index.ndwi = nd("ndwi", "NDWI", "green", "nir")
lib.index.ndbi = nd("ndbi", "NDBI", "swir1", "nir")
lib.index.nbr = nd("nbr", "NBR", "nir", "swir2")
lib.help["index.ndvi"] = "index.ndvi(img, sensor): (NIR - RED) / (NIR + RED) as band NDVI; sensor 's2', " ..
  "'landsat89', 'landsat457' or a band table"
lib.help["index.ndwi"] = "index.ndwi(img, sensor): (GREEN - NIR) / (GREEN + NIR) as band NDWI (McFeeters)"
lib.help["index.ndbi"] = "index.ndbi(img, sensor): (SWIR1 - NIR) / (SWIR1 + NIR) as band NDBI"
lib.help["index.nbr"] = "index.nbr(img, sensor): (NIR - SWIR2) / (NIR + SWIR2) as band NBR"

-- EVI and SAVI need reflectance: apply lib.scale first.
function lib.index.evi(img, sensor)
  need_image("index.evi", img)
  local b = bands_for("evi", sensor, { "nir", "red", "blue" })
  return img:expression("2.5 * ((NIR - RED) / (NIR + 6 * RED - 7.5 * BLUE + 1))",
    { NIR = img:select(b.nir), RED = img:select(b.red), BLUE = img:select(b.blue) }):rename("EVI")
end
lib.help["index.evi"] = "index.evi(img, sensor): 2.5 (NIR - RED) / (NIR + 6 RED - 7.5 BLUE + 1) as band EVI " ..
  "(reflectance input: scale first)"

function lib.index.savi(img, sensor, L)
  need_image("index.savi", img)
  L = L or 0.5
  if type(L) ~= "number" or L < 0 or L > 1 then fail("lib.index.savi: L must be a number in [0, 1] (default 0.5)") end
  local b = bands_for("savi", sensor, { "nir", "red" })
  return img:expression(string.format("(NIR - RED) / (NIR + RED + %.17g) * %.17g", L, 1 + L),
    { NIR = img:select(b.nir), RED = img:select(b.red) }):rename("SAVI")
end
lib.help["index.savi"] = "index.savi(img, sensor, L=0.5): (NIR - RED) / (NIR + RED + L) (1 + L) as band SAVI " ..
  "(reflectance input: scale first)"

-- The image with the named indices added as bands.
function lib.index.add(img, names, sensor)
  need_image("index.add", img)
  if type(names) == "string" then names = { names } end
  if type(names) ~= "table" or #names == 0 then fail("lib.index.add: give index names, e.g. {'ndvi', 'nbr'}") end
  local out = img
  for _, n in ipairs(names) do
    local f = lib.index[tostring(n):lower()]
    if not f or n == "add" then fail("lib.index.add: unknown index '%s' (ndvi, ndwi, ndbi, nbr, evi, savi)", tostring(n)) end
    out = out:addBands(f(img, sensor))
  end
  return out
end
lib.help["index.add"] = "index.add(img, names, sensor): img with the named indices (ndvi, ndwi, ndbi, nbr, evi, " ..
  "savi) added as bands"

function lib.describe(name)
  if type(name) ~= "string" then return nil end
  return lib.help[name:gsub("^lib%.", "")]
end

return lib
