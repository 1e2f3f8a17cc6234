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

-- Calendar arithmetic in UTC on the proleptic Gregorian calendar (as EE's
-- dates), for file names, metadata and calendar periods.

-- The civil date (y, m, d) of a day count since 1970-01-01.
function M.civil(days)
  local z = days + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

-- Days since 1970-01-01 of a civil date: M.civil's inverse.
function M.days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Year, month, day, hour, minute, second of milliseconds since the epoch.
function M.split_ms(ms)
  local s = ms // 1000
  local y, m, d = M.civil(s // 86400)
  local sod = s % 86400
  return y, m, d, sod // 3600, sod % 3600 // 60, sod % 60
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
