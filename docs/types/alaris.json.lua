---@meta
-- LuaLS type stubs for `alaris.json` (bindings/json.c): encode and decode with exact 64-bit integers and a visible
-- difference between `[]` and `{}`. For editors only; tests/types_test.lua checks it against the real module.

---The unique value standing for JSON `null` (shared with `alaris.yaml`); `tostring` gives `"null"`.
---@class alaris.json.Null: userdata

---@class alaris.json.Error: alaris.Error
---@field code "invalid_json"
---@field position integer 1-based byte offset where parsing stopped
---@field line integer
---@field column integer

---@class alaris.json
---@field null alaris.json.Null JSON `null` where `nil` cannot stand (array elements, object members)
local json = {}

---Encodes a Lua value; object keys are sorted, so the output is deterministic. Raises on mixed or sparse tables,
---cycles, NaN/infinities, functions and other userdata.
---@param value any
---@param opts? {pretty?: boolean} `pretty`: two-space indentation, one member per line
---@return string
function json.encode(value, opts) end

---Decodes JSON text: arrays come back marked (`json.array`), `null` as `json.null`, integers exact.
---@param text string
---@return any|nil value
---@return alaris.json.Error|nil err
function json.decode(text) end

---Marks `t` (or a new empty table) as an array, so an empty one encodes as `[]`.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

return json
