---@meta
-- LuaLS type stubs for `alaris.check` (stdlib/alaris/check.lua): checks, their concurrent run and the reports.
-- For editors only; tests/types_test.lua checks it against the real module.

---@alias alaris.check.Status "PASS"|"FAIL"|"ERROR"|"SKIP"

---@class alaris.check.Check
---@field name string letters, digits, `.`, `_`, `-`
---@field tenant? string
---@field fn fun(c: alaris.check.Check): "PASS"|"FAIL", any evidence: a string or a list of lines; raising is ERROR
---@field description? string
---@field timeout? number seconds; past it the check is cancelled and is an ERROR
---@field after? string[] checks that must finish first (of the same tenant or none; of every tenant for a check without one)

---@class alaris.check.Result
---@field name string
---@field tenant? string
---@field description? string
---@field status alaris.check.Status
---@field evidence string
---@field duration number seconds

---@class alaris.check.Summary
---@field total integer
---@field passed integer
---@field failed integer
---@field errors integer
---@field skipped integer

---@class alaris.check.RunOptions
---@field only? string[] check names, tenants or `name/tenant` to run (default: all)
---@field skip? string[] the same, to leave out (their results are SKIP)
---@field concurrency? integer checks at a time (default: all of a wave)
---@field on_result? fun(r: alaris.check.Result) called as each check ends

---@class alaris.check.ReportOptions
---@field out? file* where the table (or the JSON document) goes; default io.stdout
---@field format? "text"|"json"
---@field junit? string a file to write JUnit XML to
---@field suite_name? string the JUnit suite's name (default `checks`)

---@class alaris.check
---@field PASS "PASS"
---@field FAIL "FAIL"
---@field ERROR "ERROR"
---@field SKIP "SKIP"
local check = {}

---Checks a list of definitions (bad ones raise an `invalid` error marked as usage: exit 2) and returns it.
---@param defs alaris.check.Check[]
---@return alaris.check.Check[]
function check.define(defs) end

---One check per tenant: `def.make(tenant)` returns each one's fn.
---@param def table a check without `fn` and with `make = function(tenant) return fn end`
---@param tenants string[]
---@return alaris.check.Check[]
function check.for_tenants(def, tenants) end

---Whether each check is selected by `opts.only` / `opts.skip`; a name that matches no check raises (exit 2).
---@param checks alaris.check.Check[]
---@param opts? alaris.check.RunOptions
---@return boolean[]
function check.select(checks, opts) end

---Runs the selected checks concurrently on the event loop (waves ordered by `after`); results in definition order.
---@param checks alaris.check.Check[]
---@param opts? alaris.check.RunOptions
---@return alaris.check.Result[]
function check.run(checks, opts) end

---@param results alaris.check.Result[]
---@return alaris.check.Summary
function check.summary(results) end

---0 when at least one check was selected and every selected check passed, else 1.
---@param results alaris.check.Result[]
---@return integer
function check.exit_code(results) end

---An aligned table (status, check, tenant, time, the evidence's first line) and a summary line; masked.
---@param results alaris.check.Result[]
---@return string
function check.text(results) end

---A JSON document `{checks, summary, exit_code}`; evidence masked.
---@param results alaris.check.Result[]
---@return string
function check.json(results) end

---JUnit XML, one testcase per check and tenant; evidence in the failure or error message; escaped and masked.
---@param results alaris.check.Result[]
---@param suite_name? string
---@return string
function check.junit(results, suite_name) end

---GitHub Actions `::error title=...::evidence` lines for FAIL and ERROR results.
---@param results alaris.check.Result[]
---@return string[]
function check.annotations(results) end

---Writes the table or JSON document, the annotations under GITHUB_ACTIONS=true and the JUnit file; returns the exit
---code. Raises when the JUnit file cannot be written.
---@param results alaris.check.Result[]
---@param opts? alaris.check.ReportOptions
---@return integer
function check.report(results, opts) end

return check
