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

-- Top-level locals outlive their line: each REPL input is its own chunk, so
-- `local a = 2` would be gone on the next line. A `local` statement at the
-- chunk's top level (not inside a function or block) is rewritten into an
-- assignment of the session's globals: `local a, b <const> = 1, 2` runs as
-- `a, b = 1, 2`, `local a` as `a = nil` and `local function f` as
-- `function f`. Columns and lines stay where they were (error positions are
-- the user's), and text that does not lex is returned as it is.
local openers = { ["function"] = 1, ["do"] = 1, ["if"] = 1, ["repeat"] = 1, ["end"] = -1, ["until"] = -1 }

local function tokens(code)
  local out, i, n = {}, 1, #code
  while i <= n do
    local c = code:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif code:sub(i, i + 1) == "--" then
      local eq = code:match("^%[(=*)%[", i + 2)
      if eq then
        local _, e = code:find("]" .. eq .. "]", i, true)
        if not e then return nil end
        i = e + 1
      else
        local e = code:find("\n", i, true)
        i = e and e + 1 or n + 1
      end
    elseif c == "[" and code:match("^%[=*%[", i) then
      local eq = code:match("^%[(=*)%[", i)
      local _, e = code:find("]" .. eq .. "]", i, true)
      if not e then return nil end
      out[#out + 1] = { kind = "string", s = i, e = e }
      i = e + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while true do
        local d = code:sub(j, j)
        if d == "" or d == "\n" then return nil end
        if d == "\\" then j = j + 2
        elseif d == c then break
        else j = j + 1 end
      end
      out[#out + 1] = { kind = "string", s = i, e = j }
      i = j + 1
    elseif c:match("[%a_]") then
      local s, e = code:find("^[%w_]+", i)
      out[#out + 1] = { kind = "name", text = code:sub(s, e), s = s, e = e }
      i = e + 1
    elseif c:match("%d") or (c == "." and code:sub(i + 1, i + 1):match("%d")) then
      local _, e = code:find("^[%w_%.]+", i)
      out[#out + 1] = { kind = "number", s = i, e = e }
      i = e + 1
    else
      local op = code:match("^[=~<>]=", i) or code:match("^%.%.%.?", i) or code:match("^::", i) or c
      out[#out + 1] = { kind = "op", text = op, s = i, e = i + #op - 1 }
      i = i + #op
    end
  end
  return out
end

function M.persist_locals(code)
  local toks = tokens(code)
  if not toks then return code end
  local edits = {}   -- {s, e, replacement}, in order
  local depth = 0
  for k, t in ipairs(toks) do
    if t.kind == "name" and openers[t.text] then
      depth = depth + openers[t.text]
    elseif t.kind == "name" and t.text == "local" and depth == 0 then
      local nxt = toks[k + 1]
      if nxt and nxt.kind == "name" and nxt.text == "function" then
        edits[#edits + 1] = { t.s, t.e, "" }
      else
        local j, last = k + 1, nil
        local attribs = {}
        while toks[j] and toks[j].kind == "name" do
          last = toks[j]
          j = j + 1
          if toks[j] and toks[j].text == "<" and toks[j + 1] and toks[j + 1].kind == "name"
             and toks[j + 2] and toks[j + 2].text == ">" then
            attribs[#attribs + 1] = { toks[j].s, toks[j + 2].e, "" }
            last = toks[j + 2]
            j = j + 3
          end
          if toks[j] and toks[j].text == "," then j = j + 1 else break end
        end
        if last then
          edits[#edits + 1] = { t.s, t.e, "" }
          for _, a in ipairs(attribs) do edits[#edits + 1] = a end
          if not (toks[j] and toks[j].text == "=") then edits[#edits + 1] = { last.e + 1, last.e, " = nil" } end
        end
      end
    end
  end
  if #edits == 0 then return code end
  local parts, at = {}, 1
  for _, ed in ipairs(edits) do
    parts[#parts + 1] = code:sub(at, ed[1] - 1)
    parts[#parts + 1] = ed[3]
    at = ed[2] + 1
  end
  parts[#parts + 1] = code:sub(at)
  return table.concat(parts)
end

-- :show EXPR [--mode M]: EXPR is an image or a collection, optionally
-- followed by the options table (`:show img, {min = 0, max = 3000}`).
function M.show_command(env, arg)
  local mode
  arg = arg:gsub("%-%-mode[%s=]+([%w]+)", function(m) mode = m; return "" end)
  if arg:match("^%s*$") then
    return "usage: :show EXPR [--mode halfblock|sixel|kitty], e.g. :show img, {min = 0, max = 3000}"
  end
  local chunk, err = load("return " .. arg, "=stdin", "t", env)
  if not chunk then error(err, 0) end
  local v, opts = chunk()
  if opts ~= nil and type(opts) ~= "table" then error("show: options are a table", 0) end
  local o = {}
  for k, x in pairs(opts or {}) do o[k] = x end
  if mode then o.mode = mode end
  require("eefetch.show").show(v, o)
  return nil
end

M.help_text = [[
eefetch REPL: Lua 5.4 with the recipe API (ee, geo, json, lib, download, plan, params).
  x = ee.Image("USGS/SRTMGL1_003")   keep values in globals
  local a = 2                        top-level locals are kept too (they become globals)
  x                                  evaluate and show it (getInfo)
  ee.serialize(x)                    the expression JSON
  x:<TAB>                            complete methods of a value
  x:show{min = 0, max = 3000}        a thumbnail in the terminal (Image.visualize's options,
                                     dimensions = 256, region, count = 4 for collections, mode)
  :show x [--mode halfblock|sixel|kitty]   the same; `:show x, {min = 0, max = 3000}`
  :help NAME                         an algorithm's description and signature, e.g. :help Image.select
  :help lib                          the recipe library (masks, scale factors, composites, indices)
  :help lib.NAME                     one library function, e.g. :help lib.mask.s2_scl
  :quit                              leave (or Ctrl-D); Ctrl-C stops a running line
History is kept in $XDG_STATE_HOME/eefetch/repl_history (~/.local/state by default).]]

-- Wraps text to width columns after indent.
local function wrap(text, indent, width)
  local lines, line = {}, indent
  for word in tostring(text):gmatch("%S+") do
    if #line + #word + 1 > width and line ~= indent then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. (line == indent and "" or " ") .. word
  end
  if line ~= indent then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

-- An algorithm's signature, the description the endpoint's list gives
-- (EE's list has one for every algorithm and argument) and its arguments.
local function algorithm_help(E, name)
  local ok, sig = pcall(E._algorithm, name)
  if not ok then return nil end
  local out = { E._signature_text(sig) .. " -> " .. tostring(sig.returns) }
  if sig.deprecated then
    out[#out + 1] = "  DEPRECATED" .. (sig.deprecation and (": " .. sig.deprecation) or "")
  end
  if type(sig.description) == "string" and sig.description ~= "" then
    out[#out + 1] = wrap(sig.description, "  ", 78)
  else
    out[#out + 1] = "  (the algorithm list has no description of it)"
  end
  for _, a in ipairs(sig.args) do
    local head = "    " .. a.name .. " (" .. tostring(a.type) .. (a.optional and ", optional" or "") .. ")"
    out[#out + 1] = head
    if type(a.description) == "string" and a.description ~= "" then
      out[#out + 1] = wrap(a.description, "        ", 78)
    end
  end
  return table.concat(out, "\n")
end

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
  local text = algorithm_help(E, (arg:gsub("^ee%.", "")))
  if text then return text end
  return "no algorithm named " .. arg
end

return M
