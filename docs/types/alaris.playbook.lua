---@meta
-- LuaLS type stubs for `alaris.playbook` (stdlib/alaris/playbook.lua): the playbook constructor, its steps and vars,
-- and the helpers for concurrent work. For editors only; tests/types_test.lua checks it against the real module.

---A var a playbook declares; its value comes from `NAME=VALUE` arguments or `--var-file`.
---@class alaris.playbook.Var
---@field type? "string"|"number"|"integer"|"boolean"|"list"|"map" default `"string"`
---@field required? boolean
---@field default? any
---@field pattern? string POSIX extended regular expression the value must match
---@field secret? boolean masked everywhere
---@field description? string

---What a step's functions get.
---@class alaris.playbook.Context
---@field vars table<string, any> the playbook's vars, checked and typed
---@field log alaris.log the logging module
---@field dry_run boolean
---@field outputs table<string, table> what earlier steps returned, by step name
---@field step string the running step's name
---@field playbook string the playbook's name

---@class alaris.playbook.Step
---@field name string
---@field run fun(ctx: alaris.playbook.Context): table? returns the step's outputs (JSON-able: names and ids)
---@field rollback? fun(ctx: alaris.playbook.Context, out: table?) undoes exactly what `run` returned
---@field plan? fun(ctx: alaris.playbook.Context): string[]? what the step would do (`--dry-run`)
---@field tags? string[]
---@field timeout? number seconds; the step fails (and rolls back) after that
---@field retries? integer retried with exponential backoff and jitter
---@field retry_delay? number seconds before the first retry

---@class alaris.playbook.Definition
---@field name string letters, digits, `.`, `_`, `-`
---@field description? string
---@field vars? table<string, alaris.playbook.Var>
---@field steps alaris.playbook.Step[]

---A checked definition, ready for the runner (`return playbook {...}` from a playbook file).
---@class alaris.playbook.Playbook: alaris.playbook.Definition

---`playbook {...}` checks a definition (a mistake raises: exit 2) and marks it as a playbook.
---@class alaris.playbook
---@overload fun(def: alaris.playbook.Definition): alaris.playbook.Playbook
local playbook = {}

---Whether `v` was made by `playbook {...}`.
---@param v any
---@return boolean
function playbook.is_playbook(v) end

---Runs the functions as concurrent tasks and returns their first results in order; the first error cancels the
---others (their `<close>` variables close) and is raised.
---@param fns (fun(): any)[]
---@return any[]
function playbook.parallel(fns) end

---Calls `fn(item, index)` for every item, at most `opts.concurrency` at a time, and returns the results in order;
---errors as for `parallel`. `opts` may be left out: `for_each(items, fn)`.
---@generic T
---@param items T[]
---@param opts {concurrency?: integer}|fun(item: T, index: integer): any
---@param fn? fun(item: T, index: integer): any
---@return any[]
function playbook.for_each(items, opts, fn) end

return playbook
