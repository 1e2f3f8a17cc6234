-- Geometry helpers for recipes: bounding boxes and geometries read from
-- vector files (GeoJSON, GeoPackage, Shapefile, anything OGR opens).
local util = require "eefetch.util"
local host = require "eefetch.host"
local json = require "eefetch.json"

local M = {}

-- geo.bbox(west, south, east, north): a planar lon/lat rectangle
-- (ee.Geometry.BBox).
function M.bbox(w, s, e, n)
  local ee = require "eefetch.ee"
  -- A numeric loop, not ipairs: ipairs stops at the first nil and would let
  -- geo.bbox(1, 2) through to a confusing comparison error.
  local args = { w, s, e, n }
  for i = 1, 4 do
    if type(args[i]) ~= "number" then util.fail("geo.bbox(west, south, east, north) needs four numbers") end
  end
  if w >= e or s >= n then
    util.fail("geo.bbox: west must be < east and south < north (got %s, %s, %s, %s)", w, s, e, n)
  end
  return ee.Geometry.BBox(w, s, e, n)
end

local function collect(geoms, out)
  for _, g in ipairs(geoms) do
    if g.type == "Polygon" then out.polys[#out.polys + 1] = g.coordinates
    elseif g.type == "MultiPolygon" then
      for _, p in ipairs(g.coordinates) do out.polys[#out.polys + 1] = p end
    else
      out.other[#out.other + 1] = g
    end
  end
end

-- geo.read(path [, {layer=name}]): every feature's geometry, in EPSG:4326,
-- as one ee.Geometry (a Polygon/MultiPolygon when all parts are polygons).
-- Relative paths are relative to the recipe's directory.
function M.read(path, opts)
  local ee = require "eefetch.ee"
  if type(path) ~= "string" then util.fail("geo.read: expects a file path") end
  opts = opts or {}
  local ok, res = pcall(host.ogr_read, path, opts.layer)
  if not ok then util.fail("geo.read: %s", tostring(res)) end
  local geoms = {}
  for i, text in ipairs(res) do geoms[i] = host.json_decode(text) end
  if #geoms == 0 then util.fail("geo.read: %s has no geometries", path) end
  if #geoms == 1 then return ee.Geometry(geoms[1]) end
  local parts = { polys = {}, other = {} }
  collect(geoms, parts)
  if #parts.other == 0 then
    return ee.Geometry({ type = "MultiPolygon", coordinates = json.array(parts.polys) })
  end
  return ee.Geometry({ type = "GeometryCollection", geometries = json.array(geoms) })
end

return M
