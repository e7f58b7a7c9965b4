"""The Lua side of scripting (scripting.py, functions.py): Redis's `redis` API table over the Python
callables it is given, the error handler that turns errors into Redis's `{err=..., source=...,
line=...}`, the SCRIPT KILL count hook, the read-only globals of Redis 7, and FUNCTION LOAD's
restricted environment with redis.register_function. Executed once per Lua runtime; it returns
compile, run, run_function and load_library.
"""

HOOK_INSTRUCTIONS = 100_000  # the kill check runs every this many Lua instructions

LUA_PRELUDE = r"""
local py_call, py_pcall, py_sha1, py_log, py_check, py_setresp, py_register, py_acl_check, version,
  version_num, py_bit, py_cjson, py_cmsgpack, py_struct, py_call_packed, py_pcall_packed = ...
local dbg = debug
local clock = os.clock  -- CPU seconds: FUNCTION LOAD's time limit
local LOAD_TIMEOUT_S = 0.5
redis = {}
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
local function push_error(msg)
  -- luaPushErrorBuff: "-CODE msg" keeps CODE, anything else gets ERR
  if string.sub(msg, 1, 1) == '-' then
    local sp = string.find(msg, ' ', 1, true)
    if sp then return {err = string.sub(msg, 2, sp - 1) .. ' ' .. string.sub(msg, sp + 1)} end
    return {err = 'ERR ' .. string.sub(msg, 2)}
  end
  return {err = 'ERR ' .. msg}
end
-- call and pcall are Python callables (C functions to Lua): a script's `return redis.call(...)`
-- is then no tail call, so its frame (and line) stays for the error message, as in Redis.
redis.call = py_call
redis.pcall = py_pcall
-- A C function called from Lua 5.1 can take at most 8,000 arguments, and lupa's call into
-- Python needs a few of those slots itself: `redis.call(unpack(t))` with 7,998 to 8,000 values
-- works in Redis and is refused here before Python runs ("not a python object"). A script
-- refused so before any of its commands ran is run again (scripting.py) with `packing` on:
-- call and pcall are then Lua functions that hand Python more than MAX_C_ARGS arguments as one
-- table. Only in such a rerun does a tail-called `return redis.call(...)` lose its line in an
-- error (a Lua function's tail call replaces the caller's frame).
local MAX_C_ARGS = 7990
local function packing(fn, packed)
  return function(...)
    local n = select('#', ...)
    if n <= MAX_C_ARGS then return fn(...) end
    return packed({...}, n)
  end
end
local packing_api = {call = packing(py_call, py_call_packed), pcall = packing(py_pcall, py_pcall_packed)}
local packing_on = false
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then error(push_error('wrong number or type of arguments')) end
  if string.sub(msg, 1, 1) ~= '-' then msg = '-' .. msg end
  return push_error(msg)
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then error(push_error('wrong number or type of arguments')) end
  return {ok = msg}
end
redis.sha1hex = py_sha1
redis.log = py_log
redis.acl_check_cmd = py_acl_check
redis.setresp = py_setresp
redis.set_repl = function(v) end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
local function handler(err)
  local lvl = 2
  local i = dbg.getinfo(lvl, 'nSl')
  while i and i.source ~= '@user_script' and i.source ~= '@user_function' do
    lvl = lvl + 1
    i = dbg.getinfo(lvl, 'nSl')
  end
  if type(err) == 'userdata' then
    -- raised by a Python callable: redis.* errors carry their code; a library's (cjson, bit,
    -- cmsgpack, struct)
    -- get the position, as luaL_error gives it
    local t = tostring(err)
    if not string.find(t, '^%u+ ') then
      t = 'ERR ' .. (i and (string.sub(i.source, 2) .. ':' .. i.currentline .. ': ') or '') .. t
    end
    err = {err = t}
  elseif type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
local sethook = dbg.sethook
local prelude_source = dbg.getinfo(1, 'S').source
local function hook()
  if py_check() then
    -- from now on on every line, as Redis does: a pcall in the script cannot swallow the kill
    sethook(hook, 'l')
    -- raised in the script's own code only (not in this file's handler or wrappers)
    local i = dbg.getinfo(2, 'S')
    if i and i.source == prelude_source then return end
    error(push_error('Script killed by user with SCRIPT KILL...'))
  end
end
local loadstring, setfenv, xpcall = loadstring, setfenv, xpcall
local readonly_env
local readonly_env_raw = {}
-- A table whose reads go to index and whose writes fail with Redis's error (metatable hidden).
local function readonly_view(index)
  return setmetatable({}, {
    __index = index,
    __newindex = function(t, n, v) error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  })
end
local nil_ok = {}  -- globals read as nil without an error (none in Redis 7.0)
local function compile(body)
  local f, e = loadstring(body, '@user_script')
  if not f then return nil, e end
  setfenv(f, readonly_env)
  return f, false
end
local function run(f, keys, argv, hooked, packing)
  rawset(readonly_env_raw, 'KEYS', keys)
  rawset(readonly_env_raw, 'ARGV', argv)
  packing_on = packing
  if hooked then sethook(hook, '', HOOK_N) end
  local ok, res = xpcall(f, handler)
  if hooked then sethook() end
  packing_on = false
  return ok, res
end
local function run_function(f, keys, argv, hooked, packing)
  packing_on = packing
  if hooked then sethook(hook, '', HOOK_N) end
  local ok, res = xpcall(function() return f(keys, argv) end, handler)
  if hooked then sethook() end
  packing_on = false
  return ok, res
end
-- FUNCTION LOAD: the library's code runs with only redis.register_function/log/LOG_*/version
-- (as Redis 7.0); its functions see the scripts' globals when called.
local function load_library(body)
  local f, e = loadstring(body, '@user_function')
  if not f then return nil, e, false end
  local registered = {}
  local in_load = true
  local load_api = {
    log = redis.log, LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
    REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
    register_function = function(...)
      if not in_load then  -- a function that kept a reference to the load-time API
        error(push_error('redis.register_function can only be called on FUNCTION LOAD command'))
      end
      local n = select('#', ...)
      local a, b = ...
      if n < 1 or n > 2 then
        error(push_error('wrong number of arguments to redis.register_function'))
      end
      if n == 1 and type(a) ~= 'table' then
        error(push_error('calling redis.register_function with a single argument is only ' ..
                         'applicable to Lua table (representing named arguments).'))
      end
      if n == 1 then
        for k, _ in pairs(a) do
          if k ~= 'function_name' and k ~= 'callback' and k ~= 'flags' and k ~= 'description' then
            error(push_error('unknown argument given to redis.register_function'))
          end
        end
        if a.function_name == nil then
          error(push_error('redis.register_function must get a function name argument'))
        end
        if type(a.function_name) ~= 'string' and type(a.function_name) ~= 'number' then
          error(push_error('function_name argument given to redis.register_function must be a string'))
        end
        if a.callback == nil then
          error(push_error('redis.register_function must get a callback argument'))
        end
        if type(a.callback) ~= 'function' then
          error(push_error('callback argument given to redis.register_function must be a function'))
        end
        if a.flags ~= nil and type(a.flags) ~= 'table' then
          error(push_error('flags argument to redis.register_function must be a table representing function flags'))
        end
        if a.description ~= nil and type(a.description) ~= 'string' then
          error(push_error('description argument given to redis.register_function must be a string'))
        end
        local flags = {}
        for _, fl in ipairs(a.flags or {}) do flags[#flags + 1] = fl end
        local err = py_register(a.function_name, flags, a.description)
        if err then error(push_error(err)) end
        registered[#registered + 1] = {a.function_name, a.callback}
        return
      end
      if type(a) ~= 'string' and type(a) ~= 'number' then
        error(push_error('first argument to redis.register_function must be a string'))
      end
      if type(b) ~= 'function' then
        error(push_error('second argument to redis.register_function must be a function'))
      end
      local err = py_register(a, {}, nil)
      if err then error(push_error(err)) end
      registered[#registered + 1] = {a, b}
    end,
  }
  -- readonly, as Redis's: a function that kept it cannot use it to reach the scripts' API
  local load_api_view = readonly_view(function(t, n)
    local v = rawget(load_api, n)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
    end
    return v
  end)
  local load_env = readonly_view(function(t, n)
    if in_load then
      if n == 'redis' then return load_api_view end
      error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
    end
    local v = readonly_env_raw[n]
    if v == nil and not nil_ok[n] then
      error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
    end
    return v
  end)
  setfenv(f, load_env)
  -- luaEngineLoadHook: a library's code gets LOAD_TIMEOUT_S (500 ms) to register its functions
  local started = clock()
  local function load_hook()
    if clock() - started > LOAD_TIMEOUT_S then
      sethook(load_hook, 'l')
      local i = dbg.getinfo(2, 'S')
      if i and i.source == prelude_source then return end
      error(push_error('FUNCTION LOAD timeout'))
    end
  end
  sethook(load_hook, '', HOOK_N)
  local ok, res = pcall(f)
  sethook()
  if not ok then
    if type(res) == 'table' then res = res.err elseif type(res) ~= 'string' then res = tostring(res) end
    if string.sub(res, 1, 4) ~= 'ERR ' and not string.find(res, '^%u+ ') then res = 'ERR ' .. res end
    return nil, res, true
  end
  in_load = false  -- from now on the library's code sees the scripts' globals
  return registered, nil, false
end
-- The scripts' globals: Redis's API and libraries, read-only as in Redis 7.
bit = {}
for _, n in ipairs({'tobit', 'tohex', 'bnot', 'band', 'bor', 'bxor', 'lshift', 'rshift', 'arshift',
                    'rol', 'ror', 'bswap'}) do
  bit[n] = py_bit[n]
end
cjson = {}
for _, n in ipairs({'encode', 'decode', 'null', 'encode_max_depth', 'decode_max_depth',
                    'encode_number_precision', 'encode_invalid_numbers', 'decode_invalid_numbers',
                    'encode_keep_buffer'}) do
  cjson[n] = py_cjson[n]
end
cmsgpack = {pack = py_cmsgpack.pack, unpack = py_cmsgpack.unpack, unpack_one = py_cmsgpack.unpack_one,
            unpack_limit = py_cmsgpack.unpack_limit, _NAME = 'cmsgpack',
            _VERSION = 'lua-cmsgpack 0.4.0', _COPYRIGHT = 'Copyright (C) 2012, Salvatore Sanfilippo',
            _DESCRIPTION = 'MessagePack C implementation for Lua'}
struct = {pack = py_struct.pack, unpack = py_struct.unpack, size = py_struct.size}
-- Exactly Redis 7.0's globals: lupa's runtime also holds io, os, package, require, debug,
-- getfenv/setfenv and `python` (the node's own process), which no script may reach.
for _, k in ipairs({'_VERSION', 'assert', 'bit', 'cjson', 'cmsgpack', 'collectgarbage', 'coroutine',
                    'error', 'gcinfo', 'getmetatable', 'ipairs', 'math', 'next', 'pairs', 'pcall',
                    'rawequal', 'rawget', 'rawset', 'redis', 'select', 'setmetatable', 'string',
                    'struct', 'table', 'tonumber', 'tostring', 'type', 'unpack', 'xpcall'}) do
  readonly_env_raw[k] = _G[k]
end
-- what a script compiles runs in the scripts' globals too; precompiled (binary) chunks are
-- refused as Redis 7's Lua does (it parses every chunk as text)
local real_load = load
local function chunkid(name)  -- luaO_chunkid
  local c = string.sub(name, 1, 1)
  if c == '=' or c == '@' then return string.sub(name, 2, 60) end
  local line = string.match(name, '^[^\n\r%z]*')
  if #line > 43 then return '[string "' .. string.sub(line, 1, 43) .. '..."]' end
  if #line < #name and string.byte(name, #line + 1) ~= 0 then
    return '[string "' .. line .. '..."]'
  end
  return '[string "' .. line .. '"]'
end
local function binary_refused(s, name)
  if type(s) == 'string' and string.byte(s, 1) == 27 then
    return chunkid(name or s) .. ":1: unexpected symbol near 'char(27)'"
  end
end
readonly_env_raw.loadstring = function(s, name)
  local refused = binary_refused(s, name)
  if refused then return nil, refused end
  local f, e = loadstring(s, name)
  if f then setfenv(f, readonly_env) end
  return f, e
end
readonly_env_raw.load = function(reader, name)
  if type(reader) == 'function' then
    local parts = {}
    while true do
      local piece = reader()
      if piece == nil or piece == '' then break end
      if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
      parts[#parts + 1] = piece
    end
    return readonly_env_raw.loadstring(table.concat(parts), name or '=(load)')
  end
  local f, e = real_load(reader, name)
  if f then setfenv(f, readonly_env) end
  return f, e
end
-- An error raised by a Python callable (a library or redis.*) reaches Lua as userdata; pcall and
-- xpcall hand the script what Redis's C functions raise instead: a redis.* error's table
-- {err=...}, a library's message string (luaL_error's, no position when pcall called it);
-- pcall then gives the message of an error table, as Redis 7's own pcall does
local function error_value(err)
  if type(err) ~= 'userdata' then return err end
  local t = tostring(err)
  if string.find(t, '^%u+ ') then return {err = t} end
  return t
end
local function caught(ok, ...)  -- luaRedisPcall: an error table is replaced by its message
  if ok then return ok, ... end
  local err = error_value((...))
  if type(err) == 'table' then
    local msg = err.err
    if type(msg) == 'string' or type(msg) == 'number' then err = msg end
  end
  return ok, err
end
readonly_env_raw.pcall = function(f, ...) return caught(pcall(f, ...)) end
readonly_env_raw.xpcall = function(f, h)
  return xpcall(f, function(err) return h(error_value(err)) end)
end
readonly_env_raw.__redis__err__handler = function(err) return err end
readonly_env = readonly_view(function(t, n)
  local v = readonly_env_raw[n]
  if v == nil and not nil_ok[n] and dbg.getinfo(2) and dbg.getinfo(2, 'S').what ~= 'C' then
    error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
  end
  return v
end)
readonly_env_raw._G = readonly_env
-- The library tables are read-only too (Redis 7: "Attempt to modify a readonly table"), so no
-- script changes what the next one sees: each is a view over the real table, and next, pairs
-- and rawget see through a view (_G's included) where Lua 5.1 would find it empty.
local real_of = {[readonly_env] = readonly_env_raw}
for _, name in ipairs({'string', 'math', 'table', 'bit', 'cjson', 'cmsgpack', 'struct', 'redis',
                       'coroutine', 'os'}) do
  local real = readonly_env_raw[name]
  if type(real) == 'table' then
    local index = real
    if name == 'redis' then  -- call and pcall of a rerun with packing on (packing_api)
      index = function(t, n)
        if packing_on then
          local f = packing_api[n]
          if f then return f end
        end
        return real[n]
      end
    end
    local view = readonly_view(index)
    real_of[view] = real
    readonly_env_raw[name] = view
  end
end
local real_next, real_rawget = next, rawget
local function view_next(t, k) return real_next(real_of[t], k) end
local function table_arg(name, n, ...)  -- Lua's own "bad argument" error, at the caller
  local t = ...
  if type(t) ~= 'table' then
    local got = select('#', ...) < n and 'no value' or type(t)
    error("bad argument #1 to '" .. name .. "' (table expected, got " .. got .. ")", 3)
  end
  return t
end
readonly_env_raw.next = function(...)
  local t, k = table_arg('next', 1, ...), select(2, ...)
  return real_next(real_of[t] or t, k)
end
readonly_env_raw.pairs = function(...)
  local t = table_arg('pairs', 1, ...)
  if real_of[t] then return view_next, t, nil end
  return real_next, t, nil
end
readonly_env_raw.rawget = function(...)
  local t, k = table_arg('rawget', 1, ...), select(2, ...)
  return real_rawget(real_of[t] or t, k)
end
-- _G and the library tables are Redis's readonly tables: their metatables cannot be replaced,
-- and _G's (the undeclared-globals guard) is readonly itself
local real_setmetatable, real_getmetatable = setmetatable, getmetatable
local globals_meta = readonly_view({})
readonly_env_raw.setmetatable = function(t, mt)
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return real_setmetatable(t, mt)
end
readonly_env_raw.getmetatable = function(t)
  if t == readonly_env then return globals_meta end
  if real_of[t] then return nil end
  return real_getmetatable(t)
end
readonly_env_raw.rawset = function(...)
  local t, k, v = table_arg('rawset', 1, ...), select(2, ...)
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
return compile, run, run_function, load_library
""".replace("HOOK_N", str(HOOK_INSTRUCTIONS))
