---@meta
-- LuaLS type stubs for `alaris.log` (stdlib/alaris/log.lua): leveled messages on stderr with key=value fields,
-- secrets masked. For editors only; tests/types_test.lua checks it against the real module.

---@alias alaris.log.Level "debug"|"info"|"warn"|"error"

---@class alaris.log
local log = {}

---@param msg any
---@param fields? table<string, any> written as `key=value`, sorted by key
function log.debug(msg, fields) end

---@param msg any
---@param fields? table<string, any>
function log.info(msg, fields) end

---@param msg any
---@param fields? table<string, any>
function log.warn(msg, fields) end

---@param msg any
---@param fields? table<string, any>
function log.error(msg, fields) end

---Masks `v` as `***` from now on; returns it.
---@generic T
---@param v T
---@return T
function log.secret(v) end

---Sets the lowest level shown (`alaris-run -v` is `"debug"`, `-q` is `"warn"`). An unknown name raises.
---@param name alaris.log.Level
function log.set_level(name) end

---The lowest level shown.
---@return alaris.log.Level
function log.level() end

---Whether messages of `level` are shown.
---@param level alaris.log.Level
---@return boolean
function log.enabled(level) end

---Replaces where formatted lines go (nil: back to stderr); returns the previous sink. The runner uses it.
---@param fn? fun(level: alaris.log.Level, line: string)
---@return fun(level: alaris.log.Level, line: string) previous
function log.set_sink(fn) end

---Raises when `value` would take more than `limit` bytes written out, shared tables (YAML aliases) expanded.
---@param value any
---@param limit integer
function log.check_expanded_size(value, limit) end

---A copy of `value` fit to write out as JSON: every string value masked, keys and structure kept. Raises on what
---JSON cannot carry and past `opts.budget` bytes expanded. `opts.withhold`: strings holding a secret are left out
---instead, and the second result lists where (`"password"`, `"db.url"`, `""` for `value` itself).
---@generic T
---@param value T
---@param opts? {budget?: integer, withhold?: boolean}
---@return T copy
---@return string[] withheld
function log.masked_copy(value, opts) end

return log
