-- REPL helpers: how results are shown, tab completion and :help.
local json = require "eefetch.json"

local M = {}

local function ee() return require "eefetch.ee" end

local function is_list(t) return type(t) == "table" and json.is_array(t) end

local function fmt_scalar(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" then return json.number(v) end
  return tostring(v)
end

-- Indented Lua-ish rendering of plain data (getInfo results).
local function pretty(v, indent, out)
  indent = indent or ""
  if type(v) ~= "table" or v == json.null then out[#out + 1] = fmt_scalar(v); return end
  local inner = indent .. "  "
  if is_list(v) then
    if #v == 0 then out[#out + 1] = "{}"; return end
    local flat = true
    for _, x in ipairs(v) do if type(x) == "table" then flat = false end end
    if flat then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = fmt_scalar(x) end
      local s = "{" .. table.concat(parts, ", ") .. "}"
      if #s < 100 then out[#out + 1] = s; return end
    end
    out[#out + 1] = "{\n"
    for _, x in ipairs(v) do
      out[#out + 1] = inner
      pretty(x, inner, out)
      out[#out + 1] = ",\n"
    end
    out[#out + 1] = indent .. "}"
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  out[#out + 1] = "{\n"
  for _, k in ipairs(keys) do
    local key = k:match("^[%a_][%w_]*$") and k or string.format("[%q]", k)
    out[#out + 1] = inner .. key .. " = "
    pretty(v[k], inner, out)
    out[#out + 1] = ",\n"
  end
  out[#out + 1] = indent .. "}"
end

function M.pretty(v)
  local out = {}
  pretty(v, "", out)
  return table.concat(out)
end

local function dtype_name(dt)
  if type(dt) ~= "table" then return "?" end
  if dt.precision == "int" then
    local lo, hi = dt.min, dt.max
    local map = { { 0, 255, "uint8" }, { -128, 127, "int8" }, { 0, 65535, "uint16" },
                  { -32768, 32767, "int16" }, { 0, 4294967295, "uint32" }, { -2147483648, 2147483647, "int32" } }
    for _, m in ipairs(map) do
      if lo ~= nil and hi ~= nil and lo >= m[1] and hi <= m[2] then return m[3] end
    end
    return "int"
  end
  return dt.precision or "?"
end

local function band_table(bands)
  local rows = { { "id", "type", "crs", "scale" } }
  for _, b in ipairs(bands) do
    local scale = "?"
    if is_list(b.crs_transform) and b.crs_transform[1] then scale = json.number(math.abs(b.crs_transform[1])) end
    rows[#rows + 1] = { tostring(b.id), dtype_name(b.data_type), tostring(b.crs or "?"), scale }
  end
  local w = {}
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do w[i] = math.max(w[i] or 0, #c) end
  end
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(r) do cells[i] = c .. string.rep(" ", w[i] - #c) end
    out[#out + 1] = "  " .. table.concat(cells, "  ")
  end
  return table.concat(out, "\n")
end

local function date_of(props)
  local t = props and props["system:time_start"]
  if type(t) ~= "number" then return "" end
  return os.date("!%Y-%m-%d %H:%M:%S", t // 1000)
end

-- Renders a getInfo result: images as band tables, collections as lists
-- of images with dates, everything else as data.
function M.render(info)
  if type(info) == "table" and info.type == "Image" and is_list(info.bands) then
    local head = "Image " .. tostring(info.id or "") .. " (" .. #info.bands .. " bands)"
    return head .. "\n" .. band_table(info.bands)
  end
  if type(info) == "table" and info.type == "ImageCollection" and is_list(info.features) then
    local out = { "ImageCollection " .. tostring(info.id or "") .. " (" .. #info.features .. " images)" }
    for i, f in ipairs(info.features) do
      if i > 50 then out[#out + 1] = "  ..."; break end
      out[#out + 1] = string.format("  %-40s %s", tostring(f.id or "?"), date_of(f.properties))
    end
    return table.concat(out, "\n")
  end
  return M.pretty(info)
end

-- What the REPL prints for a value: ee values are evaluated (getInfo).
function M.show(v)
  local E = ee()
  if E._is_ee(v) then
    local ok, info = pcall(function() return v:getInfo() end)
    if ok then return M.render(info) end
    return E.describe(v) .. "\n  (not evaluated: " .. tostring(info) .. ")"
  end
  if type(v) == "table" then return M.pretty(v) end
  return fmt_scalar(v)
end

local keywords = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
                   "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
                   "true", "until", "while" }

-- Completion candidates for `text` (the word at the cursor), looking names
-- up in env without calling anything.
function M.complete(env, text)
  local E = ee()
  local base, sep, partial = text:match("^(.*)([.:])([%w_]*)$")
  local names = {}
  if base then
    local v = env
    for part in base:gmatch("[^.]+") do
      if not part:match("^[%a_][%w_]*$") then return {} end
      local ok, x = pcall(function() return v[part] end)
      if not ok or x == nil then return {} end
      v = x
    end
    if sep == ":" or E._is_ee(v) then
      if E._is_ee(v) then names = E._completions(v) end
      if sep == "." then return {} end
    else
      local ok = pcall(function()
        local seen = {}
        for k in pairs(v) do
          if type(k) == "string" and k:sub(1, 1) ~= "_" then seen[k] = true end
        end
        for _, k in ipairs(E._completions(v)) do seen[k] = true end
        for k in pairs(seen) do names[#names + 1] = k end
      end)
      if not ok then return {} end
    end
  else
    partial, base, sep = text, "", ""
    for k in pairs(env) do if type(k) == "string" then names[#names + 1] = k end end
    for _, k in ipairs(keywords) do names[#names + 1] = k end
  end
  local out = {}
  for _, n in ipairs(names) do
    if n:sub(1, #partial) == partial then out[#out + 1] = base .. sep .. n end
  end
  table.sort(out)
  return out
end

M.help_text = [[
eefetch REPL: Lua 5.4 with the recipe API (ee, geo, json, lib, download, plan, params).
  x = ee.Image("USGS/SRTMGL1_003")   keep values in globals (each line is its own chunk)
  x                                  evaluate and show it (getInfo)
  ee.serialize(x)                    the expression JSON
  x:<TAB>                            complete methods of a value
  :help NAME                         signature of an algorithm, e.g. :help Image.select
  :help lib                          the recipe library (masks, scale factors, composites, indices)
  :help lib.NAME                     one library function, e.g. :help lib.mask.s2_scl
  :quit                              leave (or Ctrl-D)
History is kept in $XDG_STATE_HOME/eefetch/repl_history.]]

function M.help(arg)
  if not arg or arg == "" then return M.help_text end
  if arg == "lib" or arg:sub(1, 4) == "lib." then
    local lib = require "eefetch.lib"
    if arg == "lib" then
      local names = {}
      for k in pairs(lib.help) do names[#names + 1] = k end
      table.sort(names)
      local lines = { "lib: the recipe library (docs/recipes.md); :help lib.NAME for one function" }
      for _, k in ipairs(names) do lines[#lines + 1] = "  lib." .. lib.help[k] end
      return table.concat(lines, "\n")
    end
    local text = lib.describe(arg)
    if text then return "lib." .. text end
    return "no library function named " .. arg .. " (:help lib lists them)"
  end
  local E = ee()
  local ok, sig = pcall(E.signature, arg)
  if ok then return sig end
  return "no algorithm named " .. arg
end

return M
