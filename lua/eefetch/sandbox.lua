-- The environment recipes run in. Built from an allow-list (never by
-- removing things from the full global table): the safe parts of the
-- standard library, eefetch's API, a text-only `load` and a `require` that
-- only reaches eefetch's modules and files next to the recipe. Every table
-- handed out is a read-only proxy whose metatable cannot be reached.
local util = require "eefetch.util"
local host = require "eefetch.host"

local M = {}

local readonly = util.readonly

local function denied(what)
  util.fail("%s is not available in recipes (sandbox); run with --unsafe to allow it", what)
end

-- A read-only copy of a library table; `omit` names functions that exist in
-- Lua but are refused here, with a message saying so.
local function ro_copy(src, name, omit)
  local t = {}
  for k, v in pairs(src) do
    if not (omit and omit[k]) then t[k] = v end
  end
  return readonly(t, name, {
    __index = function(_, k)
      local v = t[k]
      if v == nil and omit and omit[k] then denied(name .. "." .. k) end
      return v
    end,
  })
end

-- Globals of the full library that recipes do not get.
local denied_globals = { io = true, debug = true, package = true, dofile = true, loadfile = true,
                         rawset = true, collectgarbage = true }

-- Recipes may require these eefetch modules by name.
local public_modules = { ["eefetch.ee"] = "ee", ["eefetch.geo"] = "geo", ["eefetch.json"] = "json",
                         ["eefetch.lib"] = "lib" }

-- `require` for recipes: eefetch's public modules by name, else name.lua
-- (dots are folders) in the recipe's folder. Sandboxed (confine), the file
-- must resolve inside that folder: a symbolic link cannot lead out of it.
-- Without confine (--unsafe) Lua's own require is the last resort.
local function recipe_require(opts, env, confine)
  local loaded = {}
  return function(name)
    if type(name) ~= "string" then util.fail("require: expects a module name") end
    if public_modules[name] then return opts.api[public_modules[name]] end
    if loaded[name] ~= nil then return loaded[name] end
    if not name:match("^[%w_]+$") and not name:match("^[%w_]+[%w_.]*[%w_]$") or name:find("..", 1, true) then
      if not confine then return require(name) end
      util.fail("require '%s': not a valid module name", name)
    end
    local dir = opts.recipe_dir or "."
    local path = dir .. "/" .. name:gsub("%.", "/") .. ".lua"
    local text, err = host.read_text(path, confine and dir or nil)
    if not text then
      if not confine then return require(name) end
      util.fail("require '%s': only eefetch modules (eefetch.ee, eefetch.geo, eefetch.json, eefetch.lib) and " ..
                "files in the recipe's directory can be required; %s", name, err)
    end
    local chunk, lerr = load(text, "@" .. path, "t", env)
    if not chunk then error(lerr, 0) end
    local r = chunk(name)
    if r == nil then r = true end
    loaded[name] = r
    return r
  end
end

-- Builds the environment. opts: recipe_dir, params (table of strings),
-- unsafe (boolean), api (table of name -> value added as globals).
function M.env(opts)
  local env = {}
  if opts.unsafe then
    for k, v in pairs(_G) do env[k] = v end
    for k, v in pairs(opts.api or {}) do env[k] = v end
    env.params = readonly(opts.params or {}, "params")
    env.require = recipe_require(opts, env, false)
    env._G = env
    return env
  end

  for _, k in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "print",
                       "select", "tonumber", "tostring", "type", "rawequal", "rawlen",
                       "rawget", "getmetatable", "setmetatable", "_VERSION" }) do
    env[k] = _G[k]
  end
  env.string = ro_copy(string, "string", { dump = true })
  env.table = ro_copy(table, "table")
  env.math = ro_copy(math, "math")
  env.utf8 = ro_copy(utf8, "utf8")
  env.os = ro_copy({ time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }, "os",
                  { execute = true, exit = true, getenv = true, remove = true, rename = true,
                    tmpname = true, setlocale = true })

  -- Text only: bytecode is not verified by Lua and could break the sandbox.
  env.load = function(chunk, name, mode, e)
    if mode ~= nil and mode ~= "t" then
      util.fail("load: only text chunks can be loaded in a recipe (mode '%s' refused)", tostring(mode))
    end
    return load(chunk, name, "t", e == nil and env or e)
  end

  env.require = recipe_require(opts, env, true)

  for k, v in pairs(opts.api or {}) do env[k] = v end
  env.params = readonly(opts.params or {}, "params")
  env._G = env
  return setmetatable(env, {
    __index = function(_, k)
      if denied_globals[k] then denied("'" .. k .. "'") end
      return nil
    end,
    __metatable = "recipe environment",
  })
end

-- The string metatable leads from any string to the string library; lock it
-- so recipes cannot fetch or replace it.
function M.lock_string_metatable()
  local mt = getmetatable("")
  mt.__metatable = "string (read-only)"
end

-- A read-only view of a table of tables (the library's namespaces).
local function deep_readonly(t, name)
  local view = {}
  for k, v in pairs(t) do
    view[k] = type(v) == "table" and deep_readonly(v, name .. "." .. tostring(k)) or v
  end
  return readonly(view, name)
end

-- The environment of a run: the API (ee, geo, json, lib, download, plan, params)
-- plus the allow-listed standard library, or everything with --unsafe.
function M.build(opts)
  local ee = require "eefetch.ee"
  local geo = require "eefetch.geo"
  local json = require "eefetch.json"
  local recipe = require "eefetch.recipe"
  local lib = require "eefetch.lib"
  local api = {
    ee = readonly(ee, "ee"),
    geo = readonly(geo, "geo"),
    json = readonly({ encode = json.encode, decode = host.json_decode, null = json.null,
                      array = json.array, object = json.object }, "json"),
    lib = deep_readonly(lib, "lib"),
    download = recipe.download,
    plan = recipe.plan,
  }
  if not opts.unsafe then M.lock_string_metatable() end
  return M.env({ recipe_dir = opts.recipe_dir, params = opts.params, unsafe = opts.unsafe, api = api })
end

return M
