-- The `ee` module: builds Earth Engine expression graphs the way the official
-- clients do and serializes them to the Cloud API "Expression" JSON.
--
-- Client-side behaviour (constructors, filterDate, geometry constructors,
-- map with its argument naming, the serializer and its optimizer) follows the
-- official JavaScript client, so that the same chain gives the same graph
-- (tests/host/goldens holds that client's output for a corpus of chains).
-- Everything else comes from the endpoint's algorithm list: a method is an
-- algorithm whose first argument has the object's type.
local json = require "eefetch.json"
local util = require "eefetch.util"
local host = require "eefetch.host"

local fail = util.fail
local sorted_keys = util.sorted_keys
local ee = {}
ee.null = json.null

---------------------------------------------------------------------------
-- Classes. Every ee value is a table {func=, args=, var=, ...} whose
-- metatable belongs to its class. func is an algorithm name (string) or nil
-- (a variable, or a client-side value such as a literal geometry).
---------------------------------------------------------------------------
local classes = {}      -- name -> class record
local class_of = {}     -- instance metatable -> class record

local function is_ee(v)
  return type(v) == "table" and class_of[debug.getmetatable(v)] ~= nil
end

local function klass(v)
  return is_ee(v) and class_of[debug.getmetatable(v)] or nil
end

local function instance_of(v, cls)
  local c = klass(v)
  while c do
    if c == cls then return true end
    c = c.parent
  end
  return false
end

local api_loaded = false
local load_api

local function lookup(cls, key, static)
  if not api_loaded then load_api() end
  local c = cls
  while c do
    local f = (static and c.statics or c.methods)[key]
    if f ~= nil then return f end
    if not static then
      f = c.api_methods[key]
      if f ~= nil then return f end
    else
      f = c.api_statics[key]
      if f ~= nil then return f end
      return nil  -- statics are not inherited (as in the clients)
    end
    c = c.parent
  end
  return nil
end

-- Fields of the value tables themselves; absent means nil, not a method.
local internal = { func = true, args = true, var = true, literal = true, gtype = true,
                   g_coords = true, g_geoms = true, g_proj = true, g_geodesic = true,
                   g_evenOdd = true, custom = true, apifunction = true, fref = true }

local function defclass(name, parent)
  local cls = { name = name, parent = parent, methods = {}, statics = {},
                api_methods = {}, api_statics = {} }
  cls.mt = {
    __index = function(_, k)
      if internal[k] then return nil end
      local f = lookup(cls, k, false)
      if f == nil and type(k) == "string" and k:sub(1, 1) ~= "_" then
        fail("ee.%s has no method '%s'", name, k)
      end
      return f
    end,
    __newindex = function(_, k)
      fail("ee.%s values are read-only (cannot set '%s')", name, tostring(k))
    end,
    __tostring = function(self) return ee.describe(self) end,
    __metatable = "ee." .. name,
    __name = "ee." .. name,
  }
  class_of[cls.mt] = cls
  -- The public class object: callable, static functions by name, read-only.
  cls.public = setmetatable({}, {
    __call = function(_, ...) return cls.new(...) end,
    __index = function(_, k)
      local f = lookup(cls, k, true)
      if f == nil then fail("ee.%s has no function '%s'", name, tostring(k)) end
      return f
    end,
    __newindex = function(_, k) fail("ee.%s is read-only (cannot set '%s')", name, tostring(k)) end,
    __tostring = function() return "ee." .. name end,
    __metatable = "ee." .. name .. " (read-only)",
  })
  classes[name] = cls
  return cls
end

local function make(cls, func, args, var)
  return setmetatable({ func = func, args = args or (func and {}) or nil, var = var }, cls.mt)
end

-- A cast: the same computation seen as another class.
local function cast(cls, v)
  return make(cls, v.func, v.args, v.var)
end

local ComputedObject = defclass("ComputedObject")
ComputedObject.new = function(v)
  if is_ee(v) then return cast(ComputedObject, v) end
  fail("ee.ComputedObject needs an ee value")
end
local Element = defclass("Element", ComputedObject)
local Image = defclass("Image", Element)
local Feature = defclass("Feature", Element)
local Collection = defclass("Collection", Element)
local ImageCollection = defclass("ImageCollection", Collection)
local FeatureCollection = defclass("FeatureCollection", Collection)
local Geometry = defclass("Geometry", ComputedObject)
local Filter = defclass("Filter", ComputedObject)
local Date = defclass("Date", ComputedObject)
local Number = defclass("Number", ComputedObject)
local String = defclass("String", ComputedObject)
local List = defclass("List", ComputedObject)
local Dictionary = defclass("Dictionary", ComputedObject)
local Function = defclass("Function", ComputedObject)
Element.new = function(v) return cast(Element, v) end
Collection.new = function(v) return cast(Collection, v) end
Function.new = function() fail("ee.Function cannot be constructed directly") end

-- Lua tables that are plain data (not ee values).
local function is_plain_table(v) return type(v) == "table" and not is_ee(v) and v ~= json.null end
local function is_array(v) return is_plain_table(v) and json.is_array(v) end
local function is_dict(v) return is_plain_table(v) and not json.is_array(v) end

---------------------------------------------------------------------------
-- Algorithms: the endpoint's list, turned into signatures.
---------------------------------------------------------------------------
local api = {}          -- "Image.select" -> {name=, args={{name,type,optional}}, returns=}

local function strip_type(t) return (t or "Object"):gsub("<.*>", "") end

local function signature_text(sig)
  local parts = {}
  for _, a in ipairs(sig.args) do
    parts[#parts + 1] = a.name .. (a.optional and "?" or "")
  end
  return sig.name .. "(" .. table.concat(parts, ", ") .. ")"
end
ee._signature_text = signature_text

local function lookup_api(name)
  if not api_loaded then load_api() end
  local sig = api[name]
  if not sig then fail("unknown algorithm '%s' (not in the endpoint's algorithm list)", name) end
  return sig
end

-- Types: is `t` (a class name) a subtype of formal type `formal`?
local function is_subtype(formal, t)
  if formal == t then return true end
  if formal == "Element" then
    return t == "Image" or t == "Feature" or t == "Collection" or t == "ImageCollection"
        or t == "FeatureCollection" or t == "Element"
  elseif formal == "FeatureCollection" or formal == "Collection" then
    return t == "Collection" or t == "ImageCollection" or t == "FeatureCollection"
  elseif formal == "Object" then
    return true
  end
  return false
end

local promote   -- forward

-- The arguments of a call of algorithm sig (called name) from named
-- arguments: each promoted to its formal type, required ones present, no
-- name outside the signature. Calls and constructors both check here.
local function check_args(name, sig, named)
  local args = {}
  local known = {}
  for _, spec in ipairs(sig.args) do
    local v = named[spec.name]
    if v ~= nil then
      args[spec.name] = promote(v, spec.type)
    elseif not spec.optional then
      fail("%s: required argument '%s' missing; signature: %s", name, spec.name, signature_text(sig))
    end
    known[spec.name] = true
  end
  for k in pairs(named) do
    if not known[k] then
      fail("%s: unknown argument '%s'; signature: %s", name, tostring(k), signature_text(sig))
    end
  end
  return args
end

-- Builds the ComputedObject for an algorithm call from named arguments.
local function apply(name, named)
  local sig = lookup_api(name)
  return promote(make(ComputedObject, name, check_args(name, sig, named)), sig.returns)
end

-- Positional arguments (n of them, nils included) onto the signature.
local function name_args(name, n, list, offset)
  local sig = lookup_api(name)
  offset = offset or 0
  if n + offset > #sig.args then
    fail("%s: too many arguments (%d given, at most %d); signature: %s", name,
         n + offset, #sig.args, signature_text(sig))
  end
  local named = {}
  for i = 1, n do named[sig.args[i + offset].name] = list[i] end
  return named
end

local function call(name, ...)
  local n = select("#", ...)
  return apply(name, name_args(name, n, { ... }))
end
ee.call = call
ee.apply = function(name, named)
  if not is_dict(named) and next(named or {}) ~= nil then fail("ee.apply: arguments must be a table of name = value") end
  return apply(name, named or {})
end

-- JS client rule: one plain table argument means keyword arguments, unless
-- the (only required) argument is itself a Dictionary.
local function use_keywords(sig, n, first, is_instance)
  if n ~= 1 or not is_dict(first) or next(first) == nil then return false end
  local formal = {}
  for i = (is_instance and 2 or 1), #sig.args do formal[#formal + 1] = sig.args[i] end
  if #formal == 0 then return false end
  local one = #formal == 1 or formal[2].optional
  return not one or formal[1].type ~= "Dictionary"
end

local function call_or_apply(name, this, ...)
  local sig = lookup_api(name)
  local n = select("#", ...)
  local first = ...
  if use_keywords(sig, n, first, this ~= nil) then
    local named = {}
    for k, v in pairs(first) do named[k] = v end
    if this ~= nil then
      local a0 = sig.args[1].name
      if named[a0] ~= nil then fail("%s: keyword arguments cannot name '%s' (it is the object)", name, a0) end
      named[a0] = this
    end
    return apply(name, named)
  end
  if this ~= nil then
    local named = name_args(name, n, { ... }, 1)
    named[sig.args[1].name] = this
    return apply(name, named)
  end
  return apply(name, name_args(name, n, { ... }))
end

---------------------------------------------------------------------------
-- Promotion of arguments and results to the formal type (JS ee.promote_).
---------------------------------------------------------------------------
local generated = {}    -- names of generated classes

function promote(v, t)
  if v == nil then return nil end
  if v == json.null then return v end
  if t == "Image" then return Image.new(v)
  elseif t == "Feature" then
    if instance_of(v, Collection) then return call("Feature", call("Collection.geometry", v)) end
    return Feature.new(v)
  elseif t == "Element" then
    if instance_of(v, Element) then return v end
    if instance_of(v, Geometry) then return Feature.new(v) end
    if is_ee(v) then return cast(Element, v) end
    fail("cannot convert %s to an Element", tostring(v))
  elseif t == "Geometry" then
    if instance_of(v, FeatureCollection) then return call("Collection.geometry", v) end
    return Geometry.new(v)
  elseif t == "FeatureCollection" or t == "Collection" then
    if instance_of(v, Collection) then return v end
    return FeatureCollection.new(v)
  elseif t == "ImageCollection" then return ImageCollection.new(v)
  elseif t == "Filter" then return Filter.new(v)
  elseif t == "Algorithm" then
    if type(v) == "string" then return { apifunction = lookup_api(v) } end
    if type(v) == "function" then return ee._custom_function(v, nil) end
    if is_ee(v) or (type(v) == "table" and v.custom) then return v end
    fail("argument is not a function: %s", tostring(v))
  elseif t == "String" then
    if type(v) == "string" or is_ee(v) then return String.new(v) end
    return v
  elseif t == "Dictionary" then
    if is_dict(v) then return v end
    return Dictionary.new(v)
  elseif t == "List" then return List.new(v)
  elseif t == "Number" or t == "Float" or t == "Long" or t == "Integer" or t == "Short" or t == "Byte" then
    return Number.new(v)
  end
  local cls = classes[t]
  if cls and generated[t] then
    if instance_of(v, cls) then return v end
    if api[t] then return cls.new(v) end
    if is_ee(v) then return cast(cls, v) end
    return v
  elseif cls then
    if instance_of(v, cls) then return v end
    return cls.new(v)
  end
  return v
end

---------------------------------------------------------------------------
-- Hand-written constructors and methods (the client-side part).
---------------------------------------------------------------------------
local function nargs(...) return select("#", ...) end

-- ee.Image
Image.new = function(...)
  local n = nargs(...)
  local a, b = ...
  if instance_of(a, Image) and n == 1 then return a end
  if n == 0 then
    return make(Image, "Image.mask", { image = Image.new(0), mask = Image.new(0) })
  elseif n == 1 then
    if type(a) == "number" then return make(Image, "Image.constant", { value = a })
    elseif type(a) == "string" then return make(Image, "Image.load", { id = a })
    elseif is_array(a) then
      local imgs = {}
      for i, x in ipairs(a) do imgs[i] = Image.new(x) end
      return ee.Image._combine(imgs)
    elseif is_ee(a) then
      if klass(a).name == "Array" then return make(Image, "Image.constant", { value = a }) end
      return cast(Image, a)
    end
    fail("ee.Image: cannot make an image from a %s", type(a))
  elseif n == 2 then
    if type(a) == "string" and type(b) == "number" then
      return make(Image, "Image.load", { id = a, version = b })
    end
    fail("ee.Image(id, version): id must be a string and version a number")
  end
  fail("ee.Image takes at most 2 arguments (%d given)", n)
end

function Image.statics._combine(images, names)
  if #images == 0 then return call("Image.constant", json.array({})) end
  local result = Image.new(images[1])
  for i = 2, #images do result = call("Image.addBands", result, images[i]) end
  if names then result = result:select({ ".*" }, names) end
  return result
end
ee.Image = Image.public

function Image.statics.cat(...)
  return Image.statics._combine({ ... }, nil)
end

function Image.statics.rgb(r, g, b)
  return Image.statics._combine({ r, g, b }, { "vis-red", "vis-green", "vis-blue" })
end

function Image.methods.select(self, ...)
  local n = nargs(...)
  local args = { ... }
  local named = { input = self, bandSelectors = args[1] or json.array({}) }
  if n > 2 or type(args[1]) == "string" or type(args[1]) == "number" then
    for i = 1, n do
      local s = args[i]
      if type(s) ~= "string" and type(s) ~= "number" and not is_ee(s) then
        fail("Image.select: illegal band selector %s", tostring(s))
      end
    end
    named.bandSelectors = args
  elseif args[2] ~= nil then
    named.newNames = args[2]
  end
  return apply("Image.select", named)
end

function Image.methods.clip(self, geometry)
  local ok, g = pcall(Geometry.new, geometry)
  if ok then geometry = g end
  return call("Image.clip", self, geometry)
end

function Image.methods.rename(self, ...)
  local names
  if nargs(...) == 1 and type((...)) ~= "string" then names = ... else names = { ... } end
  return call("Image.rename", self, names)
end

-- img:expression("(b - a) / 2", {a = img1, b = img2}): a function built by
-- Image.parseExpression and invoked by reference (as the JS client does);
-- the image itself is DEFAULT_EXPRESSION_IMAGE ("b('B4')" in the text).
function Image.methods.expression(self, text, map)
  if type(text) ~= "string" then fail("Image.expression: expects the expression text") end
  local vars = { "DEFAULT_EXPRESSION_IMAGE" }
  local args = { DEFAULT_EXPRESSION_IMAGE = self }
  if map ~= nil then
    if not is_dict(map) then fail("Image.expression: the map must be a table of name = image") end
    for _, k in ipairs(sorted_keys(map)) do
      vars[#vars + 1] = k
      args[k] = Image.new(map[k])
    end
  end
  local body = call("Image.parseExpression", text, "DEFAULT_EXPRESSION_IMAGE", json.array(vars))
  local o = make(Image, nil, args)
  rawset(o, "fref", body)
  return o
end

-- Element:set(key, value) or :set{key = value, ...}; the result keeps the
-- class of the element (an image stays an image).
-- A table becomes one Element.set per key (sorted keys: Lua tables have no
-- order), as the JS client chains them; key, value, key, value ... too.
function Element.methods.set(self, ...)
  local n = nargs(...)
  local args = { ... }
  local r = self
  if n <= 1 then
    local props = args[1]
    if is_dict(props) and props.properties ~= nil and next(props, next(props)) == nil
        and is_dict(props.properties) then
      props = props.properties
    end
    if is_dict(props) then
      for _, k in ipairs(sorted_keys(props)) do r = call("Element.set", r, k, props[k]) end
    elseif is_ee(props) then
      r = call("Element.setMulti", self, props)
    else
      fail("set: with one argument it must be a table of properties")
    end
  else
    if n % 2 ~= 0 then fail("set: expects key, value pairs (got %d arguments)", n) end
    for i = 1, n, 2 do r = call("Element.set", r, args[i], args[i + 1]) end
  end
  return cast(klass(self), r)
end

-- ee.Feature
Feature.new = function(...)
  local n = nargs(...)
  local g, props = ...
  if instance_of(g, Feature) then
    if props ~= nil then fail("ee.Feature: cannot combine a Feature with properties") end
    return g
  end
  if n > 2 then fail("ee.Feature takes at most 2 arguments (%d given)", n) end
  if instance_of(g, Geometry) or g == json.null then
    return make(Feature, "Feature", { geometry = g, metadata = props or json.null })
  elseif is_ee(g) then
    return cast(Feature, g)
  elseif is_dict(g) and g.type == "Feature" then
    local p = {}
    for k, v in pairs(g.properties or {}) do p[k] = v end
    if g.id ~= nil then
      if p["system:index"] ~= nil then fail('ee.Feature: cannot give both "id" and "system:index"') end
      p["system:index"] = g.id
    end
    return make(Feature, "Feature", { geometry = Geometry.new(g.geometry), metadata = json.object(p) })
  end
  return make(Feature, "Feature", { geometry = Geometry.new(g), metadata = props or json.null })
end
ee.Feature = Feature.public

-- ee.ImageCollection
ImageCollection.new = function(...)
  local n = nargs(...)
  local a = ...
  if instance_of(a, ImageCollection) and n == 1 then return a end
  if n ~= 1 then fail("ee.ImageCollection takes exactly 1 argument (%d given)", n) end
  if instance_of(a, Image) then a = { a } end
  if type(a) == "string" then return make(ImageCollection, "ImageCollection.load", { id = a })
  elseif is_array(a) then
    local imgs = {}
    for i, x in ipairs(a) do imgs[i] = Image.new(x) end
    return make(ImageCollection, "ImageCollection.fromImages", { images = json.array(imgs) })
  elseif instance_of(a, List) then
    return make(ImageCollection, "ImageCollection.fromImages", { images = a })
  elseif is_ee(a) then
    return cast(ImageCollection, a)
  end
  fail("ee.ImageCollection: cannot make a collection from a %s", type(a))
end
ee.ImageCollection = ImageCollection.public

-- ee.FeatureCollection
FeatureCollection.new = function(...)
  local a, b = ...
  if instance_of(a, FeatureCollection) then return a end
  if type(a) == "string" then
    return make(FeatureCollection, "Collection.loadTable", { tableId = a, geometryColumn = b })
  elseif instance_of(a, Geometry) or instance_of(a, Feature) then
    return make(FeatureCollection, "Collection", { features = json.array({ Feature.new(a) }) })
  elseif is_array(a) then
    local fs = {}
    for i, x in ipairs(a) do fs[i] = Feature.new(x) end
    return make(FeatureCollection, "Collection", { features = json.array(fs) })
  elseif instance_of(a, List) then
    return make(FeatureCollection, "Collection", { features = a })
  elseif is_dict(a) and a.type == "FeatureCollection" then
    local fs = {}
    for i, x in ipairs(a.features or {}) do fs[i] = Feature.new(x) end
    return make(FeatureCollection, "Collection", { features = json.array(fs) })
  elseif is_ee(a) then
    return cast(FeatureCollection, a)
  end
  fail("ee.FeatureCollection: cannot make a collection from a %s", type(a))
end
ee.FeatureCollection = FeatureCollection.public

-- Collection methods (shared by image and feature collections).
local function same_class(self, v) return cast(klass(self), v) end

function Collection.methods.filter(self, f)
  if f == nil then fail("filter: empty filter") end
  return same_class(self, call("Collection.filter", self, f))
end

function Collection.methods.filterMetadata(self, name, op, value)
  return self:filter(ee.Filter.metadata(name, op, value))
end

function Collection.methods.filterBounds(self, geometry)
  return self:filter(ee.Filter.bounds(geometry))
end

function Collection.methods.filterDate(self, start, stop)
  return self:filter(ee.Filter.date(start, stop))
end

function Collection.methods.limit(self, max, property, ascending)
  return same_class(self, apply("Collection.limit",
    { collection = self, limit = max, key = property, ascending = ascending }))
end

function Collection.methods.sort(self, property, ascending)
  return same_class(self, apply("Collection.limit",
    { collection = self, key = property, ascending = ascending }))
end

local function element_class(self)
  if instance_of(self, ImageCollection) then return Image end
  if instance_of(self, FeatureCollection) then return Feature end
  return Element
end

function Collection.methods.map(self, fn, dropNulls)
  if type(fn) ~= "function" then fail("map: expects a function") end
  local cls = element_class(self)
  local with_cast = function(e) return fn(cls.new(e)) end
  local f = ee._custom_function(with_cast, 1)
  return same_class(self, apply("Collection.map", { collection = self, baseAlgorithm = f, dropNulls = dropNulls }))
end

function Collection.methods.iterate(self, fn, first)
  if type(fn) ~= "function" then fail("iterate: expects a function") end
  local cls = element_class(self)
  local with_cast = function(e, p) return fn(cls.new(e), p) end
  local f = ee._custom_function(with_cast, 2)
  return apply("Collection.iterate", { collection = self, ["function"] = f,
                                       first = first == nil and json.null or first })
end

function ImageCollection.methods.select(self, ...)
  local args, n = { ... }, nargs(...)
  return self:map(function(img) return img:select(table.unpack(args, 1, n)) end)
end

function ImageCollection.methods.first(self)
  return Image.new(call("Collection.first", self))
end

-- As the JS client: Image.linkCollection mapped over the collection (the
-- match is on system:index unless matchPropertyName says otherwise).
function ImageCollection.methods.linkCollection(self, other, linkedBands, linkedProperties, matchPropertyName)
  return self:map(function(img)
    return apply("Image.linkCollection", { input = img, imageCollection = other, linkedBands = linkedBands,
                                           linkedProperties = linkedProperties,
                                           matchPropertyName = matchPropertyName })
  end)
end

function FeatureCollection.methods.first(self)
  return Feature.new(call("Collection.first", self))
end

-- ee.Filter
Filter.new = function(f)
  if instance_of(f, Filter) then return f end
  if is_array(f) then
    if #f == 0 then fail("ee.Filter: empty list") end
    if #f == 1 then return Filter.new(f[1]) end
    return make(Filter, "Filter.and", { filters = f })
  elseif is_ee(f) then
    return cast(Filter, f)
  end
  fail("ee.Filter: invalid argument %s", tostring(f))
end
ee.Filter = Filter.public

local filter_ops = { equals = "equals", less_than = "lessThan", greater_than = "greaterThan",
                     contains = "stringContains", starts_with = "stringStartsWith",
                     ends_with = "stringEndsWith" }

function Filter.methods.Not(self) return call("Filter.not", self) end
function Filter.statics.eq(name, value) return call("Filter.equals", name, value) end
function Filter.statics.neq(name, value) return Filter.statics.eq(name, value):Not() end
function Filter.statics.lt(name, value) return call("Filter.lessThan", name, value) end
function Filter.statics.gte(name, value) return Filter.statics.lt(name, value):Not() end
function Filter.statics.gt(name, value) return call("Filter.greaterThan", name, value) end
function Filter.statics.lte(name, value) return Filter.statics.gt(name, value):Not() end

local function combine(fname, ...)
  local args = { ... }
  if nargs(...) == 1 and instance_of(args[1], List) then return call(fname, args[1]) end
  if nargs(...) == 1 and is_array(args[1]) then args = args[1] end
  return call(fname, json.array(args))
end
function Filter.statics.And(...) return combine("Filter.and", ...) end
function Filter.statics.Or(...) return combine("Filter.or", ...) end

function Filter.statics.date(start, stop)
  local range = call("DateRange", start, stop)
  return apply("Filter.dateRangeContains", { leftValue = range, rightField = "system:time_start" })
end

function Filter.statics.inList(leftField, rightValue, rightField, leftValue)
  return apply("Filter.listContains", { leftField = rightField, rightValue = leftValue,
                                        rightField = leftField, leftValue = rightValue })
end

function Filter.statics.bounds(geometry, errorMargin)
  return apply("Filter.intersects", { leftField = ".all", rightValue = call("Feature", geometry),
                                      maxError = errorMargin })
end

function Filter.statics.metadata(name, op, value)
  if type(op) ~= "string" then fail("filterMetadata: the operator must be a string") end
  op = op:lower()
  local negated = false
  if op:sub(1, 4) == "not_" then negated, op = true, op:sub(5) end
  local f = filter_ops[op]
  if not f then fail("filterMetadata: unknown operator '%s'", op) end
  local r = call("Filter." .. f, name, value)
  return negated and r:Not() or r
end

-- ee.Date
Date.new = function(d, tz)
  if instance_of(d, Date) then return d end
  local args
  if type(d) == "string" then
    args = { value = d }
    if tz ~= nil then
      if type(tz) ~= "string" then fail("ee.Date: the time zone must be a string") end
      args.timeZone = tz
    end
  elseif type(d) == "number" then
    args = { value = d }
  elseif is_ee(d) then
    if type(d.func) == "string" and api[d.func] and api[d.func].returns == "Date" then
      return cast(Date, d)
    end
    args = { value = d }
  else
    fail("ee.Date: expects a date string, milliseconds since the epoch or an ee value")
  end
  return make(Date, "Date", args)
end
ee.Date = Date.public

-- ee.Number / ee.String / ee.List / ee.Dictionary hold a literal or a
-- computation; a literal is encoded as a reference to the constant (as the
-- JS client does, which decides what the optimizer can share).
Number.new = function(x)
  if instance_of(x, Number) then return x end
  if type(x) == "number" then
    local o = make(Number); rawset(o, "literal", x); return o
  elseif is_ee(x) then return cast(Number, x) end
  fail("ee.Number: invalid argument %s", tostring(x))
end
ee.Number = Number.public

String.new = function(s)
  if instance_of(s, String) then return s end
  if type(s) == "string" then
    local o = make(String); rawset(o, "literal", s); return o
  elseif is_ee(s) then
    if type(s.func) == "string" and api[s.func] and api[s.func].returns == "String" then
      return cast(String, s)
    end
    return make(String, "String", { input = s })
  end
  fail("ee.String: invalid argument %s", tostring(s))
end
ee.String = String.public

List.new = function(l)
  if instance_of(l, List) then return l end
  if is_array(l) then
    local o = make(List); rawset(o, "literal", l); return o
  elseif is_ee(l) then return cast(List, l) end
  fail("ee.List: invalid argument %s", tostring(l))
end
ee.List = List.public

Dictionary.new = function(d)
  if instance_of(d, Dictionary) then return d end
  if d == nil then d = json.object({}) end
  if is_dict(d) or (is_plain_table(d) and next(d) == nil) then
    local o = make(Dictionary); rawset(o, "literal", json.object(d)); return o
  end
  if is_ee(d) and type(d.func) == "string" and api[d.func] and api[d.func].returns == "Dictionary" then
    return cast(Dictionary, d)
  end
  return make(Dictionary, "Dictionary", { input = d })
end
ee.Dictionary = Dictionary.public

---------------------------------------------------------------------------
-- Geometry (client-side GeoJSON until serialized).
---------------------------------------------------------------------------
local function deep_copy(v)
  if type(v) ~= "table" or is_ee(v) then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return setmetatable(c, debug.getmetatable(v))
end

local function is_number(v) return type(v) == "number" end

-- Nesting depth of a coordinate array, or -1 when malformed.
local function coord_depth(shape)
  if not is_array(shape) then return -1 end
  if is_array(shape[1]) then
    local d = coord_depth(shape[1])
    for i = 2, #shape do
      if coord_depth(shape[i]) ~= d then return -1 end
    end
    return d + 1
  end
  for i = 1, #shape do
    if not is_number(shape[i]) then return -1 end
  end
  return (#shape % 2 == 0) and 1 or -1
end

local function valid_geometry(g)
  local t = g.type
  if t == "GeometryCollection" then
    if not is_array(g.g_geoms) then return false end
    for _, x in ipairs(g.g_geoms) do
      if not valid_geometry(x) then return false end
    end
    return true
  end
  local c = g.coordinates
  local d = coord_depth(c)
  local empty = is_array(c) and #c == 0
  return (t == "Point" and d == 1) or (t == "MultiPoint" and (d == 2 or empty))
      or (t == "LineString" and d == 2) or (t == "LinearRing" and d == 2)
      or (t == "MultiLineString" and (d == 3 or empty)) or (t == "Polygon" and d == 3)
      or (t == "MultiPolygon" and (d == 4 or empty))
end

local function has_server_value(c)
  if is_array(c) then
    for _, x in ipairs(c) do
      if has_server_value(x) then return true end
    end
    return false
  end
  return is_ee(c)
end

local function coords_to_line(c)
  if not is_number(c[1]) then return c end
  if #c == 2 then return c end
  if #c % 2 ~= 0 then fail("invalid number of coordinates: %d", #c) end
  local line = {}
  for i = 1, #c, 2 do line[#line + 1] = { c[i], c[i + 1] } end
  return line
end

local function fix_depth(depth, coords)
  local all_numbers = true
  for _, x in ipairs(coords) do
    if not is_number(x) then all_numbers = false end
  end
  if all_numbers then coords = coords_to_line(coords) end
  local item, count = coords, 0
  while is_array(item) do item = item[1]; count = count + 1 end
  while count < depth do coords = { coords }; count = count + 1 end
  if coord_depth(coords) ~= depth then fail("invalid geometry coordinates") end
  item = coords
  while is_array(item) and #item == 1 do item = item[1] end
  if is_array(item) and #item == 0 then return {} end
  return coords
end

Geometry.new = function(...)
  local geo, proj, geodesic, evenOdd = ...
  if is_dict(geo) and geo.type == nil and nargs(...) == 1 then
    geo, proj, geodesic, evenOdd = geo.geoJson, geo.proj, geo.geodesic, geo.evenOdd
  end
  local options = proj ~= nil or geodesic ~= nil or evenOdd ~= nil
  if is_ee(geo) and not (instance_of(geo, Geometry) and geo.gtype) then
    if options then
      fail("ee.Geometry: cannot set the CRS, geodesic or evenOdd flag of a computed geometry; use transform()")
    end
    return cast(Geometry, geo)
  end
  if instance_of(geo, Geometry) then
    if not options then return geo end
    geo = geo:toGeoJSON()
  end
  if not is_dict(geo) or not valid_geometry(geo) then fail("ee.Geometry: invalid GeoJSON geometry") end
  local o = make(Geometry)
  rawset(o, "gtype", geo.type)
  rawset(o, "g_coords", geo.coordinates ~= nil and deep_copy(geo.coordinates) or nil)
  rawset(o, "g_geoms", geo.geometries)
  if proj ~= nil then
    rawset(o, "g_proj", proj)
  elseif geo.crs ~= nil then
    if is_dict(geo.crs) and geo.crs.type == "name" and is_dict(geo.crs.properties)
        and type(geo.crs.properties.name) == "string" then
      rawset(o, "g_proj", geo.crs.properties.name)
    else
      fail("ee.Geometry: invalid CRS declaration in GeoJSON")
    end
  end
  if geodesic == nil and geo.geodesic ~= nil then geodesic = geo.geodesic and true or false end
  if evenOdd == nil and geo.evenOdd ~= nil then evenOdd = geo.evenOdd and true or false end
  rawset(o, "g_geodesic", geodesic)
  rawset(o, "g_evenOdd", evenOdd)
  return o
end
ee.Geometry = Geometry.public

-- The constructors' parameter names, for calls with one table of options.
local geo_params = {
  Point = { "coords", "proj" }, MultiPoint = { "coords", "proj" },
  Rectangle = { "coords", "proj", "geodesic", "evenOdd" },
  LineString = { "coords", "proj", "geodesic", "maxError" },
  LinearRing = { "coords", "proj", "geodesic", "maxError" },
  MultiLineString = { "coords", "proj", "geodesic", "maxError" },
  Polygon = { "coords", "proj", "geodesic", "maxError", "evenOdd" },
  MultiPolygon = { "coords", "proj", "geodesic", "maxError", "evenOdd" },
}

-- Either GeoJSON (to be serialized client-side) or a server-side call.
local function construct(kind, depth, ...)
  local n = nargs(...)
  local raw = { ... }
  local all_numbers = n > 0
  for i = 1, n do
    if not is_number(raw[i]) then all_numbers = false end
  end
  local args = {}
  if all_numbers then
    args.coordinates = raw
  else
    local named
    if n == 1 and is_dict(raw[1]) and raw[1].coords ~= nil then named = raw[1]
    else
      named = {}
      for i, p in ipairs(geo_params[kind]) do named[p] = raw[i] end
      if n > #geo_params[kind] then
        fail("ee.Geometry.%s takes at most %d arguments (%d given)", kind, #geo_params[kind], n)
      end
    end
    for k, v in pairs(named) do
      if v ~= json.null then
        if k == "coords" then args.coordinates = v
        elseif k == "proj" then args.crs = v
        else args[k] = v end
      end
    end
  end
  if args.coordinates == nil then fail("ee.Geometry.%s: coordinates are required", kind) end
  if has_server_value(args.coordinates) or args.crs ~= nil or args.maxError ~= nil then
    return nil, apply("GeometryConstructors." .. kind, args)
  end
  args.type = kind
  args.coordinates = fix_depth(depth, args.coordinates)
  local polygon = kind == "Polygon" or kind == "Rectangle" or kind == "MultiPolygon"
  if polygon and args.evenOdd == nil then args.evenOdd = true end
  if polygon and args.geodesic == false and args.evenOdd == false then
    fail("ee.Geometry.%s: planar interiors must be even/odd", kind)
  end
  return args
end

local function from_construct(geo, computed)
  if computed then return cast(Geometry, computed) end
  return Geometry.new(geo)
end

function Geometry.statics.Point(...)
  local g, c = construct("Point", 1, ...)
  if g and #g.coordinates ~= 2 then fail("ee.Geometry.Point needs 2 coordinates") end
  return from_construct(g, c)
end
function Geometry.statics.MultiPoint(...) return from_construct(construct("MultiPoint", 2, ...)) end
function Geometry.statics.LineString(...) return from_construct(construct("LineString", 2, ...)) end
function Geometry.statics.LinearRing(...) return from_construct(construct("LinearRing", 2, ...)) end
function Geometry.statics.MultiLineString(...) return from_construct(construct("MultiLineString", 3, ...)) end
function Geometry.statics.Polygon(...) return from_construct(construct("Polygon", 3, ...)) end
function Geometry.statics.MultiPolygon(...) return from_construct(construct("MultiPolygon", 4, ...)) end

function Geometry.statics.Rectangle(...)
  local g, c = construct("Rectangle", 2, ...)
  if c then return cast(Geometry, c) end
  local xy = g.coordinates
  if #xy ~= 2 then fail("ee.Geometry.Rectangle needs 2 points or 4 coordinates") end
  local x1, y1, x2, y2 = xy[1][1], xy[1][2], xy[2][1], xy[2][2]
  g.coordinates = { { { x1, y2 }, { x1, y1 }, { x2, y1 }, { x2, y2 } } }
  g.type = "Polygon"
  return Geometry.new(g)
end

-- JS `%` keeps the sign of the dividend (math.fmod), unlike Lua's `%`.
local function canon_lon(x)
  x = math.fmod(x, 360)
  if x > 180 then x = x - 360 elseif x < -180 then x = x + 360 end
  return x
end

function Geometry.statics.BBox(west, south, east, north)
  if is_dict(west) then west, south, east, north = west.west, west.south, west.east, west.north end
  local c = { west, south, east, north }
  if has_server_value(c) then return cast(Geometry, call("GeometryConstructors.BBox", west, south, east, north)) end
  for _, v in ipairs(c) do
    if not is_number(v) then fail("ee.Geometry.BBox needs four numbers (west, south, east, north)") end
  end
  if #c ~= 4 then fail("ee.Geometry.BBox needs four numbers (west, south, east, north)") end
  if not (west < math.huge) then fail("ee.Geometry.BBox: west must not be %s", tostring(west)) end
  if not (east > -math.huge) then fail("ee.Geometry.BBox: east must not be %s", tostring(east)) end
  -- EE's own checks, and the likely cause: latitude given before longitude.
  local order = " (the arguments are west, south, east, north: longitude first)"
  if not (south <= 90) then fail("ee.Geometry.BBox: south must be at most +90, but was %s%s", tostring(south), order) end
  if not (north >= -90) then fail("ee.Geometry.BBox: north must be at least -90, but was %s%s", tostring(north), order) end
  south = math.max(south, -90)
  north = math.min(north, 90)
  if east - west >= 360 then
    west, east = -180, 180
  else
    west, east = canon_lon(west), canon_lon(east)
    if east < west then east = east + 360 end
  end
  return Geometry.new({ type = "Polygon",
                        coordinates = { { { west, north }, { west, south }, { east, south }, { east, north } } } },
                      nil, false, true)
end

function Geometry.methods.toGeoJSON(self)
  if not self.gtype then fail("cannot convert a computed Geometry to GeoJSON; use getInfo()") end
  local r = { type = self.gtype }
  if self.gtype == "GeometryCollection" then r.geometries = self.g_geoms
  else r.coordinates = self.g_coords end
  if self.g_proj ~= nil then r.crs = { type = "name", properties = { name = self.g_proj } } end
  if self.g_geodesic ~= nil then r.geodesic = self.g_geodesic end
  if self.g_evenOdd ~= nil then r.evenOdd = self.g_evenOdd end
  return r
end

-- The server-side call a client-side geometry stands for.
local function geometry_invocation(g)
  local args, fname = {}, nil
  if g.gtype == "GeometryCollection" then
    local gs = {}
    for i, x in ipairs(g.g_geoms) do gs[i] = Geometry.new(x) end
    args.geometries = json.array(gs)
    fname = "GeometryConstructors.MultiGeometry"
  else
    args.coordinates = g.g_coords
    fname = "GeometryConstructors." .. g.gtype
  end
  if g.g_proj ~= nil then
    args.crs = type(g.g_proj) == "string" and call("Projection", g.g_proj) or g.g_proj
  end
  if g.g_geodesic ~= nil and g.gtype ~= "Point" and g.gtype ~= "MultiPoint" then args.geodesic = g.g_geodesic end
  if g.g_evenOdd ~= nil then args.evenOdd = g.g_evenOdd end
  return apply(fname, args)
end

---------------------------------------------------------------------------
-- Custom functions (map/iterate callbacks) and their argument naming.
---------------------------------------------------------------------------
local function variable(name)
  return make(ComputedObject, nil, nil, name)
end

local serialize_expr   -- forward

-- Counts function definitions in a serialized expression (JS client rule
-- for naming anonymous arguments: _MAPPING_VAR_<count>_<index>).
local function count_functions(expr)
  local function count(node)
    if type(node) ~= "table" then return 0 end
    if node.functionDefinitionValue then return 1 end
    local n = 0
    if node.arrayValue then
      for _, v in ipairs(node.arrayValue.values) do n = n + count(v) end
    elseif node.dictionaryValue then
      for _, v in pairs(node.dictionaryValue.values) do n = n + count(v) end
    elseif node.functionInvocationValue then
      for _, v in pairs(node.functionInvocationValue.arguments) do n = n + count(v) end
    end
    return n
  end
  local n = 0
  for _, v in pairs(expr.values) do n = n + count(v) end
  return n
end

function ee._custom_function(fn, nparams)
  nparams = nparams or debug.getinfo(fn, "u").nparams
  local vars = {}
  for i = 1, nparams do vars[i] = variable(nil) end
  local body = fn(table.unpack(vars, 1, nparams))
  if body == nil then fail("a mapped function must return a value") end
  local expr = serialize_expr(body, "<unbound>")
  local base = "_MAPPING_VAR_" .. count_functions(expr) .. "_"
  local names = {}
  for i = 1, nparams do
    names[i] = base .. (i - 1)
    rawset(vars[i], "var", names[i])
  end
  -- Called again so that casts made inside the callback see the names.
  body = fn(table.unpack(vars, 1, nparams))
  return { custom = true, argnames = names, body = body }
end

---------------------------------------------------------------------------
-- The serializer (JS ee.Serializer.makeReference + ExpressionOptimizer).
-- Nodes are Lua tables in the wire shape; names are strings "0","1",...
---------------------------------------------------------------------------

-- The de-duplication key of a node: its JSON text, except for a scalar
-- constant (most nodes of a big coordinate list), whose key is its type and
-- exact value without the generic encoder's table walk, which dominates
-- serializing big lists otherwise. Those keys cannot start with "{", so they
-- never meet a JSON key; equal numbers (1 and 1.0) share one, as in JSON.
local function node_key(node)
  local c = node.constantValue
  if c ~= nil and next(node, next(node)) == nil then
    local t = type(c)
    if t == "number" then
      return math.type(c) == "integer" and string.format("n%d", c) or string.format("n%.17g", c)
    end
    if t == "string" then return "s" .. c end
    if t == "boolean" then return c and "true" or "false" end
  end
  local arr = node.arrayValue
  if arr and next(node, next(node)) == nil then   -- a list: references to its items
    local parts = {}
    for i, x in ipairs(arr.values) do
      if not x.valueReference or next(x, next(x)) ~= nil then return json.encode(node) end
      parts[i] = '{"valueReference":' .. json.quote(x.valueReference) .. "}"
    end
    return '{"arrayValue":{"values":[' .. table.concat(parts, ",") .. "]}}"
  end
  return json.encode(node)
end

local function new_serializer(unbound)
  local s = { scope = {}, values = {}, by_hash = {}, memo = {}, unbound = unbound }

  local function add(obj, node)
    local h = node_key(node)
    local name = s.by_hash[h]
    if not name then
      name = tostring(#s.scope)
      s.scope[#s.scope + 1] = name
      s.values[name] = node
      s.by_hash[h] = name
    end
    if type(obj) == "table" then s.memo[obj] = name end
    return name
  end

  local ref
  local function ref_node(v) return { valueReference = ref(v) } end

  local function invocation(fname, args)
    local enc = {}
    for _, k in ipairs(sorted_keys(args)) do enc[k] = ref_node(args[k]) end
    return { functionInvocationValue = { functionName = fname, arguments = json.object(enc) } }
  end

  function ref(v)
    if type(v) == "table" and s.memo[v] then return s.memo[v] end
    local t = type(v)
    local node
    if v == json.null or t == "boolean" or t == "string" then
      node = { constantValue = v }
    elseif t == "number" then
      -- As the Python client: an integer a double cannot hold exactly goes
      -- as an int64 string (the JS client has no such numbers).
      if math.type(v) == "integer" and math.tointeger(v + 0.0) ~= v then
        node = { integerValue = string.format("%d", v) }
      else
        node = { constantValue = v }
      end
    elseif t == "table" and v.custom then
      node = { functionDefinitionValue = { argumentNames = json.array(v.argnames), body = ref(v.body) } }
    elseif t == "table" and v.apifunction then
      fail("cannot pass the algorithm %s as a value", v.apifunction.name)
    elseif is_ee(v) then
      if v.literal ~= nil then
        node = { valueReference = ref(v.literal) }
      elseif v.gtype then
        node = s.values[ref(geometry_invocation(v))]
      elseif v.fref then
        local enc = {}
        for _, k in ipairs(sorted_keys(v.args)) do enc[k] = ref_node(v.args[k]) end
        node = { functionInvocationValue = { functionReference = ref(v.fref), arguments = json.object(enc) } }
      elseif v.var or (v.func == nil and v.args == nil) then
        local name = v.var or s.unbound
        if not name then fail("a mapped function's arguments cannot be used in client-side operations") end
        node = { argumentReference = name }
      else
        node = invocation(v.func, v.args)
      end
    elseif t == "table" then
      if json.is_array(v) then
        local vals = {}
        for i = 1, #v do vals[i] = ref_node(v[i]) end
        node = { arrayValue = { values = json.array(vals) } }
      else
        local vals = {}
        -- by tostring: a table with a number key must reach the error below,
        -- not fail comparing a number with a string
        for _, k in ipairs(sorted_keys(v, function(a, b) return tostring(a) < tostring(b) end)) do
          if type(k) ~= "string" then fail("cannot encode a table with a %s key", type(k)) end
          vals[k] = ref_node(v[k])
        end
        node = { dictionaryValue = { values = json.object(vals) } }
      end
    elseif t == "function" then
      fail("a Lua function can only be passed where the algorithm expects one")
    else
      fail("cannot encode a %s", t)
    end
    return add(v, node)
  end

  s.ref = ref
  return s
end

local function is_const(n) return n.constantValue ~= nil end

local function always_liftable(n)
  local c = n.constantValue
  if c ~= nil then return c == json.null or type(c) == "number" or type(c) == "boolean" end
  return n.argumentReference ~= nil
end

local DEPTH_LIMIT = 50

local function optimize(root, values)
  local counts = {}
  local visit_value
  local function visit_ref(r)
    if counts[r] then counts[r] = counts[r] + 1
    else
      counts[r] = 1
      visit_value(values[r])
    end
  end
  function visit_value(v)
    if v.arrayValue then
      for _, x in ipairs(v.arrayValue.values) do visit_value(x) end
    elseif v.dictionaryValue then
      for _, x in pairs(v.dictionaryValue.values) do visit_value(x) end
    elseif v.functionDefinitionValue then
      visit_ref(v.functionDefinitionValue.body)
    elseif v.functionInvocationValue then
      local inv = v.functionInvocationValue
      if inv.functionReference then visit_ref(inv.functionReference) end
      for _, x in pairs(inv.arguments) do visit_value(x) end
    elseif v.valueReference then
      visit_ref(v.valueReference)
    end
  end
  visit_ref(root)

  local out, map, next_ref = {}, {}, 0
  local opt_value
  local function opt_ref(r)
    if map[r] then return map[r] end
    local m = tostring(next_ref)
    next_ref = next_ref + 1
    map[r] = m
    out[m] = opt_value(values[r], 0)
    return m
  end
  function opt_value(v, depth)
    if is_const(v) or v.integerValue or v.bytesValue or v.argumentReference then
      return v
    elseif v.valueReference then
      local r = v.valueReference
      local target = values[r]
      if depth < DEPTH_LIMIT and counts[r] == 1 then
        return opt_value(target, depth)
      elseif always_liftable(target) then
        return target
      end
      return { valueReference = opt_ref(r) }
    elseif v.arrayValue then
      local arr, all = {}, true
      for i, x in ipairs(v.arrayValue.values) do
        arr[i] = opt_value(x, depth + 3)
        if not is_const(arr[i]) then all = false end
      end
      if all then
        local c = {}
        for i, x in ipairs(arr) do c[i] = x.constantValue end
        return { constantValue = json.array(c) }
      end
      return { arrayValue = { values = json.array(arr) } }
    elseif v.dictionaryValue then
      local d, all = {}, true
      for _, k in ipairs(sorted_keys(v.dictionaryValue.values)) do
        d[k] = opt_value(v.dictionaryValue.values[k], depth + 3)
        if not is_const(d[k]) then all = false end
      end
      if all then
        local c = {}
        for k, x in pairs(d) do c[k] = x.constantValue end
        return { constantValue = json.object(c) }
      end
      return { dictionaryValue = { values = json.object(d) } }
    elseif v.functionDefinitionValue then
      local def = v.functionDefinitionValue
      return { functionDefinitionValue = { argumentNames = def.argumentNames, body = opt_ref(def.body) } }
    elseif v.functionInvocationValue then
      local inv = v.functionInvocationValue
      local args = {}
      for _, k in ipairs(sorted_keys(inv.arguments)) do
        args[k] = opt_value(inv.arguments[k], depth + 3)
      end
      local r = { arguments = json.object(args) }
      if inv.functionName then r.functionName = inv.functionName
      else r.functionReference = opt_ref(inv.functionReference) end
      return { functionInvocationValue = r }
    end
    error("cannot optimize value " .. json.encode(v))
  end
  local result = opt_ref(root)
  return { result = result, values = json.object(out) }
end

function serialize_expr(obj, unbound)
  local s = new_serializer(unbound)
  local root = s.ref(obj)
  return optimize(root, s.values)
end

-- ee.serialize(obj): the Expression JSON text for obj.
function ee.serialize(obj)
  return json.encode(serialize_expr(obj, nil))
end
ee.expression = function(obj) return serialize_expr(obj, nil) end

---------------------------------------------------------------------------
-- Generic methods of every value.
---------------------------------------------------------------------------
function ComputedObject.methods.serialize(self) return ee.serialize(self) end

function ComputedObject.methods.getInfo(self)
  local expr = ee.serialize(self)
  local ok, r = pcall(host.compute, expr)
  if not ok then fail("%s", tostring(r)) end
  return r
end

function ComputedObject.methods.name(self) return klass(self).name end

function ComputedObject.methods.aside(self, fn, ...)
  fn(self, ...)
  return self
end

-- Same computation seen as another class: x:cast("Image") or x:cast(ee.Image).
function ComputedObject.methods.cast(self, to)
  local name = type(to) == "string" and to or tostring(to):gsub("^ee%.", "")
  local cls = classes[name]
  if not cls then fail("cast: unknown class %s", tostring(to)) end
  return cast(cls, self)
end

function ee.describe(v)
  local c = klass(v)
  if not c then return tostring(v) end
  if v.literal ~= nil then return "ee." .. c.name .. "(" .. json.encode(v.literal) .. ")" end
  if v.gtype then return "ee.Geometry." .. v.gtype .. "(" .. json.encode(v.g_coords or json.array({})) .. ")" end
  if v.var then return "ee." .. c.name .. "<" .. v.var .. ">" end
  return "ee." .. c.name .. "<" .. tostring(v.func) .. ">"
end

---------------------------------------------------------------------------
-- Loading the algorithm list and binding algorithms to classes.
---------------------------------------------------------------------------
local bound = {}

local function import_api(cls, prefix, type_name, prepend)
  prepend = prepend or ""
  for name, sig in pairs(api) do
    local dot = name:find(".", 1, true)
    if dot and name:sub(1, dot - 1) == prefix and not name:find(".", dot + 1, true) then
      local method = prepend .. name:sub(dot + 1)
      bound[name] = true
      local inst = false
      if #sig.args > 0 then
        local t = sig.args[1].type
        inst = t ~= "Object" and is_subtype(t, type_name)
      end
      if inst then
        if cls.methods[method] == nil then
          cls.api_methods[method] = function(self, ...) return call_or_apply(name, self, ...) end
        end
      else
        if cls.statics[method] == nil then
          cls.api_statics[method] = function(...) return call_or_apply(name, nil, ...) end
        end
      end
    end
  end
end

-- Lua keywords cannot be method names with `:`; these aliases reach them.
local keyword_alias = { ["and"] = "And", ["or"] = "Or", ["not"] = "Not" }

local function generated_class(name)
  local cls = defclass(name, ComputedObject)
  generated[name] = true
  cls.new = function(...)
    local n = nargs(...)
    local a = ...
    if n == 1 and instance_of(a, cls) then return a end
    local ctor = api[name]
    local use_ctor = false
    if ctor then
      if n ~= 1 or not is_ee(a) then use_ctor = true
      elseif type(a.func) ~= "string" or not api[a.func] or api[a.func].returns ~= ctor.returns then
        use_ctor = true
      end
    end
    if use_ctor then
      local named
      if use_keywords(ctor, n, a, false) then named = a else named = name_args(name, n, { ... }) end
      return make(cls, name, check_args(name, ctor, named))
    end
    if n ~= 1 then fail("too many arguments for ee.%s()", name) end
    if not is_ee(a) then fail("invalid argument for ee.%s(): must be an ee value", name) end
    return cast(cls, a)
  end
  ee[name] = cls.public
  return cls
end

function load_api()
  if api_loaded then return end
  api_loaded = true   -- set first: the loaders below look methods up
  local ok, list = pcall(host.algorithms)
  if not ok then
    api_loaded = false
    fail("%s", tostring(list))
  end
  for _, a in ipairs(list.algorithms or {}) do
    local name = (a.name or ""):gsub("^algorithms/", "")
    local args = {}
    for i, x in ipairs(a.arguments or {}) do
      args[i] = { name = x.argumentName, type = strip_type(x.type), optional = x.optional or false }
    end
    api[name] = { name = name, args = args, returns = strip_type(a.returnType),
                  description = a.description, deprecated = a.deprecated,
                  deprecation = a.deprecationReason }
    for i, x in ipairs(a.arguments or {}) do args[i].description = x.description end
  end
  import_api(Image, "Image", "Image")
  import_api(Feature, "Feature", "Feature")
  import_api(Element, "Element", "Element")
  import_api(Collection, "Collection", "Collection")
  import_api(Collection, "AggregateFeatureCollection", "Collection", "aggregate_")
  import_api(ImageCollection, "ImageCollection", "ImageCollection")
  import_api(ImageCollection, "reduce", "ImageCollection")
  import_api(FeatureCollection, "FeatureCollection", "FeatureCollection")
  import_api(Geometry, "Geometry", "Geometry")
  import_api(Filter, "Filter", "Filter")
  import_api(Date, "Date", "Date")
  import_api(Number, "Number", "Number")
  import_api(String, "String", "String")
  import_api(List, "List", "List")
  import_api(Dictionary, "Dictionary", "Dictionary")
  -- Generated classes: every prefix that is also a return type.
  local prefixes, returns = {}, {}
  for name, sig in pairs(api) do
    prefixes[name:match("^([^.]+)")] = true
    returns[sig.returns] = true
  end
  for p in pairs(prefixes) do
    if returns[p] and not classes[p] then
      local cls = generated_class(p)
      if api[p] then bound[p] = true end
      import_api(cls, p, p)
    end
  end
  for _, cls in pairs(classes) do
    for kw, alias in pairs(keyword_alias) do
      if cls.api_methods[kw] and not cls.methods[alias] then cls.api_methods[alias] = cls.api_methods[kw] end
      if cls.api_statics[kw] and not cls.statics[alias] then cls.api_statics[alias] = cls.api_statics[kw] end
    end
  end
  -- ee.Algorithms: everything not bound to a class, by dotted name.
  local algs = {}
  for name in pairs(api) do
    if not bound[name] then
      local t = algs
      local parts = {}
      for p in name:gmatch("[^.]+") do parts[#parts + 1] = p end
      for i = 1, #parts - 1 do
        local x = t[parts[i]]
        if type(x) == "function" then
          -- "A" and "A.b" are both algorithms: A stays callable.
          local f = x
          x = setmetatable({}, { __call = function(_, ...) return f(...) end })
        end
        t[parts[i]] = x or {}
        t = t[parts[i]]
      end
      local fname = name
      local fn = function(...) return call_or_apply(fname, nil, ...) end
      local cur = t[parts[#parts]]
      if type(cur) == "table" then
        setmetatable(cur, { __call = function(_, ...) return fn(...) end })
      else
        t[parts[#parts]] = fn
      end
    end
  end
  -- Read-only, like every API table recipes see; namespaces that are also
  -- algorithms stay callable.
  local function freeze(t, name)
    local view = {}
    for k, v in pairs(t) do
      view[k] = type(v) == "table" and freeze(v, name .. "." .. k) or v
    end
    local mt = debug.getmetatable(t)
    local extra = mt and mt.__call and { __call = mt.__call } or nil
    return util.readonly(view, name, extra)
  end
  ee.Algorithms = freeze(algs, "ee.Algorithms")
end

-- Names a REPL can complete for a value (methods) or a class (functions).
function ee._completions(v)
  if not api_loaded then pcall(load_api) end
  local names, seen = {}, {}
  local function add(t)
    for k in pairs(t) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" and not seen[k] then
        seen[k] = true
        names[#names + 1] = k
      end
    end
  end
  local c = klass(v)
  if c then
    while c do add(c.methods); add(c.api_methods); c = c.parent end
  else
    for _, cls in pairs(classes) do
      if cls.public == v then add(cls.statics); add(cls.api_statics) end
    end
  end
  table.sort(names)
  return names
end

-- Signature text of an algorithm ("Image.select(input, bandSelectors, newNames?)").
function ee.signature(name)
  return signature_text(lookup_api(name))
end

-- The algorithm's record (name, args with types and descriptions,
-- returns, description when the endpoint's list has one) for :help.
function ee._algorithm(name) return lookup_api(name) end

-- img:show{...} and collection:show{...}: a thumbnail in the terminal
-- (eefetch.show; the REPL's :show).
function Image.methods.show(self, opts) return require("eefetch.show").show(self, opts) end
function ImageCollection.methods.show(self, opts) return require("eefetch.show").show(self, opts) end

function ee._is_ee(v) return is_ee(v) end
function ee._class_name(v) local c = klass(v); return c and c.name or nil end
function ee._load_api() load_api() end

-- Lazily created class tables: ee.Reducer, ee.Projection, ee.DateRange ...
return setmetatable(ee, {
  __index = function(_, k)
    if type(k) ~= "string" or not k:match("^%u") then return nil end
    if not api_loaded then load_api() end
    local v = rawget(ee, k)
    if v == nil and type(ee.Algorithms[k]) == "table" then
      -- Namespaces of unbound algorithms, e.g. ee.Terrain.slope.
      v = ee.Algorithms[k]
    end
    return v
  end,
})
