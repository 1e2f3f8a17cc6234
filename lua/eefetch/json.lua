-- JSON text for eefetch's Lua side. Encoding is done here (not in C) because
-- the serializer must control exactly how arrays, objects and numbers come
-- out; decoding of server answers is done in C (json-c) by the host.
--
-- Arrays and objects: a table carrying json.ARRAY / json.OBJECT as metatable
-- is encoded as that kind; otherwise a table whose keys are 1..n is an array
-- (the empty table is an array) and anything else is an object.
local M = {}

-- Protected metatables (recipes can see decoded tables, and must not be able
-- to change how every array is treated).
M.ARRAY = { __name = "json.array", __metatable = "json.array" }
M.OBJECT = { __name = "json.object", __metatable = "json.object" }
-- JSON null inside tables (nil cannot be stored in a Lua table).
M.null = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end,
                            __newindex = function() error("json.null cannot hold fields", 2) end,
                            __metatable = "json.null" })

local function is_array(t)
  local mt = getmetatable(t)
  if mt == "json.array" then return true end
  if mt == "json.object" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end
M.is_array = is_array

local function tag(t, mt)
  t = t or {}
  local cur = getmetatable(t)
  if cur == mt.__metatable then return t end
  if cur ~= nil then
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    t = c
  end
  return setmetatable(t, mt)
end
function M.array(t) return tag(t, M.ARRAY) end
function M.object(t) return tag(t, M.OBJECT) end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end
M.quote = quote

-- Shortest text that reads back as the same double (at most 17 digits);
-- Lua integers are written as integers.
local function number(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x or x == math.huge or x == -math.huge then
    error("cannot encode " .. tostring(x) .. " as JSON", 0)
  end
  if x == math.floor(x) and math.abs(x) < 2^63 then
    return string.format("%d", math.tointeger(x))
  end
  for p = 15, 17 do
    local s = string.format("%." .. p .. "g", x)
    if tonumber(s) == x then return s end
  end
  return string.format("%.17g", x)
end
M.number = number

local encode
-- `seen` holds the tables on the current path: a table that contains itself
-- is an error to report, not a stack overflow to hit.
local function encode_into(v, out, seen)
  local t = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif t == "number" then out[#out + 1] = number(v)
  elseif t == "string" then out[#out + 1] = quote(v)
  elseif t == "table" then
    if seen[v] then error("cannot encode a table that contains itself as JSON", 0) end
    seen[v] = true
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode_into(v[i], out, seen)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then
          error("cannot encode a table with a " .. type(k) .. " key as a JSON object", 0)
        end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = quote(k)
        out[#out + 1] = ":"
        encode_into(v[k], out, seen)
      end
      out[#out + 1] = "}"
    end
    seen[v] = nil
  else
    error("cannot encode a " .. t .. " as JSON", 0)
  end
end

-- Encodes v; object keys are always sorted, so equal values give equal text.
function encode(v)
  local out = {}
  encode_into(v, out, {})
  return table.concat(out)
end
M.encode = encode

return M
