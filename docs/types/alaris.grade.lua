---@meta
-- LuaLS type stubs for `alaris.grade` (stdlib/alaris/grade.lua): the grading run behind playbooks/grade.lua.
-- For editors only. The check functions, the isolation proof and the probes are in alaris.grade.* (docs/modules/grade.md).

---@class alaris.grade.Values
---@field tenants string comma-separated tenant names
---@field only? string
---@field skip? string
---@field timeout integer seconds per check
---@field drill_timeout integer seconds for the WAL archived, a restore Ready
---@field max_backup_age number hours
---@field wal_margin integer seconds beyond archive_timeout
---@field concurrency integer 0: all at once
---@field settle integer seconds a Cluster not Ready is waited for
---@field probe_image string
---@field neutral_namespace string

---@class alaris.grade.Wait
---@field what string
---@field from number monotonic seconds (the engine's now())
---@field to number

---@class alaris.grade.Env
---@field tenants string[]
---@field run_id string six hex digits, the value of the run's label (grade-run)
---@field kc? alaris.k8s.Client
---@field waits? alaris.grade.Wait[] each wait on the cluster (probe pods, the WAL archived, restores, ...)

---@class alaris.grade
---@field CHECKS table[] `{name, fn, description, drill = bool}`, in report order
---@field VARS table<string, table> the vars, declared as a playbook's
local grade = {}

---The script's entry point: parses `arg`, runs the selected checks, writes the reports; the exit code (2 for bad input).
---@param argv table the script's `arg`
---@return integer
function grade.main(argv) end

---Runs the checks the vars select; bad input raises a usage error before the cluster is asked anything.
---@param values alaris.grade.Values
---@param opts? {kc?: alaris.k8s.Client, on_result?: fun(r: alaris.check.Result)}
---@return alaris.check.Result[] results
---@return alaris.grade.Env env
function grade.run_checks(values, opts) end

---NAME=VALUE pairs and options (`output`, `junit`, `help`) from the script's arguments, on both sides of FILE.
---@param argv table
---@return table<string, string> given
---@return table opts
function grade.parse_args(argv) end

---The tenant names of `a,b,c`, each checked, none twice (a usage error otherwise).
---@param text string
---@return string[]
function grade.tenant_list(text) end

---The run's settings from the vars (`kc` is set by run_checks).
---@param values alaris.grade.Values
---@return alaris.grade.Env
function grade.environment(values) end

---One alaris.check definition per check and tenant.
---@param env alaris.grade.Env
---@return alaris.check.Check[]
function grade.definitions(env) end

---Deletes what the run left (Pods, Clusters, NetworkPolicies labelled with its run id).
---@param env alaris.grade.Env
function grade.sweep(env) end

return grade
