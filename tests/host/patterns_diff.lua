-- Differential test of eefetch's budgeted pattern functions (table P, set
-- by test_patterns.c) against Lua 5.4's own string library: the same
-- results, the same errors, on generated subjects, patterns, init
-- arguments and replacements. Deterministic (fixed seed).
local P = ...
local fails, cases = 0, 0
math.randomseed(20261207)
local R = math.random

local function pick(t) return t[R(#t)] end

local function show(st, ...)
  local n = select("#", ...)
  local out = { tostring(st), tostring(n) }
  for i = 1, n do
    local v = select(i, ...)
    out[#out + 1] = math.type(v) or type(v)
    out[#out + 1] = type(v) == "string" and string.format("%q", v) or tostring(v)
  end
  return table.concat(out, " ")
end

-- Argument errors name the function as package.loaded knows it: string.rep
-- for Lua's, nothing for P's here (in eefetch ours are in the string table).
local function unnamed(text) return (text:gsub("(bad argument #%d+ to )'[^']*'", "%1'?'")) end

local function same(what, f1, f2, ...)
  cases = cases + 1
  local a = unnamed(show(pcall(f1, ...)))
  local b = unnamed(show(pcall(f2, ...)))
  if a ~= b then
    fails = fails + 1
    if fails <= 30 then
      local args = {}
      for i = 1, select("#", ...) do
        local v = select(i, ...)
        args[i] = type(v) == "string" and string.format("%q", v) or tostring(v)
      end
      print(("MISMATCH %s(%s)\n  lua:     %s\n  eefetch: %s"):format(what, table.concat(args, ", "), a, b))
    end
  end
end

local function collect(gm)
  return function(s, p, init)
    local out = {}
    for a, b, c in gm(s, p, init) do
      out[#out + 1] = tostring(a) .. "|" .. tostring(b) .. "|" .. tostring(c)
      if #out > 200 then break end
    end
    return table.concat(out, ";")
  end
end
local lua_gmatch, eef_gmatch = collect(string.gmatch), collect(P.gmatch)

local alphabet = { "a", "b", "a", "b", "c", "(", ")", "[", "]", "%", "-", ".", "^", "$", " ", "1", "9", "x",
                   "Z", "\0", "\n", "\t", "\200", "=", "_", "'" }
local function subject()
  local t = {}
  for i = 1, R(0, 14) do t[i] = pick(alphabet) end
  return table.concat(t)
end

local atoms = { "a", "b", "c", ".", "%a", "%A", "%c", "%C", "%d", "%D", "%g", "%G", "%l", "%L", "%p", "%P",
                "%s", "%S", "%u", "%U", "%w", "%W", "%x", "%X", "%%", "%.", "%(", "%]", "%-", "[ab]", "[^a]",
                "[a-c]", "[%d%a]", "[]]", "[^]]", "[a-]", "[-a]", "[%]]", "[^%s]", "[%w_]", "[a-%%]",
                "[\0-\31]", " ", "\0", "1", "=", "'", "x", "Z", "[%a-z]", "[z-a]", "^", "$" }
local specials = { "(", ")", "()", "%1", "%2", "%0", "%b()", "%b''", "%bab", "%f[%w]", "%f[%W]", "%f[a]",
                   "%f[^a]", "%f[%z]", "%f[\0]" }
local broken = { "%", "[", "[a", "[^", "[%", "%b", "%ba", "%f", "%fa", "%f[a", "(()", "%9", "[]", "[^]" }
local quants = { "", "", "", "*", "+", "-", "?" }

local function pattern()
  local t = {}
  if R(5) == 1 then t[#t + 1] = "^" end
  for _ = 1, R(0, 6) do
    local r = R(20)
    if r <= 13 then t[#t + 1] = pick(atoms) .. pick(quants)
    elseif r <= 19 then t[#t + 1] = pick(specials)
    else t[#t + 1] = pick(broken) end
  end
  if R(6) == 1 then t[#t + 1] = "$" end
  return table.concat(t)
end

local repls = { "<%0>", "%1", "%2", "x%%y", "%", "%a", "", "[%1|%0]", 7, 2.5 }
local tables = { { a = "A", b = false, ["1"] = 4, ["("] = {}, [" "] = "_" }, {} }
local funcs = {
  function(c) return c and (tostring(c) .. "!") end,
  function() return false end,
  function() end,
  function(a, b) return tostring(a) .. tostring(b) end,
  function() return {} end,
  function(c) return c == "a" and 5 or nil end,
}

local function check(s, p)
  local inits = { nil, 1, 0, -1, -3, 2, #s, #s + 1, #s + 2, -(#s) - 5 }
  local init = inits[R(#inits)]
  same("find", string.find, P.find, s, p)
  same("find", string.find, P.find, s, p, init)
  same("find-plain", string.find, P.find, s, p, init, true)
  same("match", string.match, P.match, s, p)
  same("match", string.match, P.match, s, p, init)
  same("gmatch", lua_gmatch, eef_gmatch, s, p)
  same("gmatch", lua_gmatch, eef_gmatch, s, p, init)
  local r = R(3)
  local rep = r == 1 and pick(repls) or r == 2 and pick(tables) or pick(funcs)
  same("gsub", string.gsub, P.gsub, s, p, rep)
  same("gsub", string.gsub, P.gsub, s, p, rep, R(-1, 3))
end

-- Hand-picked cases first, then generated ones.
local fixed = {
  { "key = value", "(%w+)%s*=%s*(%w+)" }, { "  trim me  ", "^%s*(.-)%s*$" }, { "on 2024-05-17.", "%d%d%d%d%-%d%d%-%d%d" },
  { "THE (quick) fox", "%f[%a]%a+" }, { "f(a(b)c)d", "%b()" }, { "hello world", "o" }, { "hello", "" },
  { "", "" }, { "", "^$" }, { "abc", "()" }, { "abc", "()b()" }, { "aaa", "a-" }, { "aaa", "a-$" },
  { "x=1, y=2", "(%w+)=(%w+)" }, { "abab", "(ab)%1" }, { "a.b", "%." }, { "a+b", "a+b" }, { "a+b", "a%+b" },
  { "[x]", "[]]" }, { "a\0b", "%z" }, { "a\0b", "\0" }, { "a\0b", "[\0]" }, { "aXb", "%u" },
  { "hello", "(h)(e)(l)(l)(o)" }, { "abc", "((a)(b))" }, { "abc", "(a" }, { "abc", "a)" }, { "abc", "%" },
  { string.rep("a", 14), string.rep("a?", 14) .. string.rep("a", 14) }, { "abc", string.rep("(", 33) },
  { "abc", string.rep("a?", 250) }, { "abc", string.rep("()", 40) }, { "THE (quick) fox", "%f[%l]" },
}
for _, c in ipairs(fixed) do
  for _ = 1, 4 do check(c[1], c[2]) end
end
for _ = 1, 40000 do check(subject(), pattern()) end

-- Patterns recipes use, on long strings, give Lua's results.
local long = string.rep("name=value; ", 20000) .. "  2024-05-17  "
for _, p in ipairs({ "(%w+)=(%w+)", "^%s*(.-)%s*$", "%d%d%d%d%-%d%d%-%d%d", "[^;]+", "%s+$", "(%a+)" }) do
  same("find", string.find, P.find, long, p)
  same("match", string.match, P.match, long, p)
  same("gmatch", lua_gmatch, eef_gmatch, long, p)
  same("gsub", string.gsub, P.gsub, long, p, "<%0>")
end
same("find-long-plain", string.find, P.find, string.rep("ab", 5000) .. "abc", string.rep("ab", 100) .. "c")
same("find-long-plain", string.find, P.find, string.rep("ab", 5000) .. "abc", string.rep("ab", 100) .. "c", 3, true)

-- string.rep, table.move and table.sort (lbounded.c).
for _ = 1, 3000 do
  local s, sep = subject():sub(1, R(0, 3)), R(2) == 1 and subject():sub(1, R(0, 2)) or nil
  same("rep", string.rep, P.rep, s, R(-2, 6), sep)
end
same("rep", string.rep, P.rep, "ab", math.maxinteger)
-- Lua's own loops 2^63 times copying nothing here; ours answers at once.
cases = cases + 1
if P.rep("", math.maxinteger, "") ~= "" or P.rep("", 1e15) ~= "" then fails = fails + 1; print("MISMATCH rep empty") end
same("rep", string.rep, P.rep, "a", 2^62, "b")
same("rep", string.rep, P.rep, "x", 1e12)
same("rep", string.rep, P.rep, "x", 2^31)
same("rep", string.rep, P.rep, "xy", 2^30, "")
same("rep", string.rep, P.rep, "x", 2^30, "y")
same("rep", string.rep, P.rep, "a", "x")
same("rep", string.rep, P.rep, nil, 2)
same("rep", string.rep, P.rep, "x", 3.5)

-- Errors raised by Lua from inside sort or move name a position only when
-- Lua code called them directly; compare the messages without it.
local function strip(f)
  return function(...)
    local r = table.pack(pcall(f, ...))
    if not r[1] then error((tostring(r[2]):gsub("^[^:]*:%d+: ", "")), 0) end
    return table.unpack(r, 2, r.n)
  end
end
local function moved(move)
  return strip(function(n, f, e, t, other)
    local a = {}
    for i = 1, n do a[i] = i end
    local b = other and { "x", "y" } or nil
    local r = move(a, f, e, t, b)
    local out = {}
    for k, v in pairs(r) do out[#out + 1] = k .. "=" .. v end
    table.sort(out)
    return table.concat(out, ",")
  end)
end
local lua_move, eef_move = moved(table.move), moved(P.move)
for _ = 1, 3000 do
  local n = R(0, 12)
  same("move", lua_move, eef_move, n, R(-2, 14), R(-2, 14), R(-2, 16), R(3) == 1)
end
same("move", lua_move, eef_move, 20000, 1, 20000, 3)       -- overlapping, several slices, down
same("move", lua_move, eef_move, 20000, 3, 20000, 1)       -- overlapping, several slices, up
same("move", lua_move, eef_move, 10, 1, 9000, 5000, true)
same("move", lua_move, eef_move, 3, math.mininteger, 5, 1)
same("move", lua_move, eef_move, 3, 1, 3, math.maxinteger)
same("move", table.move, P.move, nil, 1, 2, 3)
same("move", table.move, P.move, {}, 1, 2, 3, 5)

local function sorted(sort)
  return strip(function(a, cmp)
    local t = table.move(a, 1, #a, 1, {})
    sort(t, cmp)
    for i = 1, #t do t[i] = tostring(t[i]) end
    return table.concat(t, ",")
  end)
end
local lua_sort, eef_sort = sorted(table.sort), sorted(P.sort)
local cmps = { nil, function(a, b) return a > b end, function(a, b) return tostring(a) < tostring(b) end }
for _ = 1, 2000 do
  local a, kind = {}, R(4)
  for i = 1, R(0, 60) do
    a[i] = kind == 1 and R(-5, 5) or kind == 2 and subject() or kind == 3 and R() or
           (R(2) == 1 and R(9) or tostring(R(9)))
  end
  same("sort", lua_sort, eef_sort, a, cmps[R(3)])
end
same("sort", table.sort, P.sort, nil)
same("sort", table.sort, P.sort, {}, 3)
same("sort", lua_sort, eef_sort, { 3, 1, 2 }, function() return true end)

print(("%d comparisons, %d mismatches"):format(cases, fails))
return fails == 0
