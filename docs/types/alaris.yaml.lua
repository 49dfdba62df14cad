---@meta
-- LuaLS type stubs for `alaris.yaml` (bindings/yaml.c, bindings/yaml_emit.c): YAML 1.2 core schema in, YAML that
-- kubectl reads back out. For editors only; tests/types_test.lua checks it against the real module.

---@class alaris.yaml.Error: alaris.Error
---@field code "invalid_yaml"
---@field line integer 1-based
---@field column integer 1-based

---@class alaris.yaml
---@field null alaris.json.Null the same value as `json.null`
local yaml = {}

---The value of the first document (`json.null` for an empty stream). Sequences come back marked as arrays.
---@param text string
---@return any|nil value
---@return alaris.yaml.Error|nil err
function yaml.decode(text) end

---The values of every document, in order.
---@param text string
---@return any[]|nil values
---@return alaris.yaml.Error|nil err
function yaml.decode_all(text) end

---Block-style YAML, keys sorted; strings a YAML 1.1 reader would mistype are quoted. Raises on mixed or sparse
---tables, cycles, functions and strings that are not UTF-8.
---@param value any
---@return string
function yaml.encode(value) end

---Every element of `values` as one document, separated by `---` lines.
---@param values any[]
---@return string
function yaml.encode_all(values) end

return yaml
