-- Helpers shared by eefetch's own Lua modules (not visible to recipes).
local M = {}

-- Embedded modules are loaded with chunk names "=eefetch/<name>.lua"; a
-- frame from any other chunk is the user's (recipe, required file, eval
-- text or REPL line).
local function user_frame(info)
  return info.what ~= "C" and info.source:sub(1, 9) ~= "=eefetch/"
end

-- "file:line: " of the innermost user frame, or "" when there is none.
function M.where()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return "" end
    if user_frame(info) and info.currentline and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
    level = level + 1
  end
end

-- Raises msg located at the user's line, not at the line inside eefetch's
-- modules where the problem was noticed.
function M.fail(fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  error(M.where() .. msg, 0)
end

-- Line number of the innermost user frame (0 when unknown).
function M.user_line()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return 0, "" end
    if user_frame(info) and info.currentline and info.currentline > 0 then
      return info.currentline, info.short_src
    end
    level = level + 1
  end
end

-- The keys of t in table.sort's order (or less's): the one way eefetch
-- iterates a table in a stable order (serialized graphs, messages).
function M.sorted_keys(t, less)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, less)
  return ks
end

-- A read-only view of t: reads pass through, writes raise, and the
-- metatable cannot be fetched or replaced.
function M.readonly(t, name, extra_mt)
  local mt = {
    __index = t,
    __newindex = function(_, k)
      M.fail("%s is read-only (cannot set '%s')", name, tostring(k))
    end,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
    __metatable = name .. " (read-only)",
  }
  for k, v in pairs(extra_mt or {}) do mt[k] = v end
  return setmetatable({}, mt)
end

return M
