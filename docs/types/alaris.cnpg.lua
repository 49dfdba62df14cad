---@meta
-- LuaLS type stubs for `alaris.cnpg` (stdlib/alaris/cnpg.lua): waits on Clusters, Backups, Deployments and load
-- balancers through watches, with timeouts that say why. For editors only; tests/types_test.lua checks it against
-- the real module.

---@class alaris.cnpg
---@field API string `postgresql.cnpg.io/v1`
---@field HEALTHY string `Cluster in healthy state`
local cnpg = {}

---`Ready=False (Reason: message); ...` for each condition, or `no conditions`.
---@param obj table|nil
---@return string
function cnpg.conditions_text(obj) end

---The `count` (default 5) latest Events about the object, newest last, separated by ` | `; `no events` when none.
---@param kc alaris.k8s.Client
---@param kind string
---@param namespace string
---@param name string
---@param count? integer
---@return string
function cnpg.events_text(kc, kind, namespace, name, count) end

---A `timeout` error naming the object, what it was waited for, its phase, conditions and latest Events.
---@param kc alaris.k8s.Client
---@param obj_ref alaris.k8s.Object
---@param what string e.g. `Ready`
---@param timeout number seconds
---@param last table|nil the object as last seen
---@return alaris.Error
function cnpg.timeout_error(kc, obj_ref, what, timeout, last) end

---Waits through a watch until `done(obj)` is true; returns the object, or `nil, err` (a `timeout` error from
---`cnpg.timeout_error`, or the watch's error).
---@param kc alaris.k8s.Client
---@param obj_ref alaris.k8s.Object
---@param what string
---@param done fun(obj: table): boolean
---@param timeout number seconds
---@return table|nil
---@return alaris.Error|nil
function cnpg.wait_for(kc, obj_ref, what, done, timeout) end

---The Cluster's `Ready` condition True.
---@param kc alaris.k8s.Client
---@param namespace string
---@param name string
---@param timeout? number seconds (default 600)
---@return table|nil
---@return alaris.Error|nil
function cnpg.wait_ready(kc, namespace, name, timeout) end

---A Backup's phase `completed`; `nil, err` (code `failed`, naming `status.error`) when it failed.
---@param kc alaris.k8s.Client
---@param namespace string
---@param name string
---@param timeout? number seconds (default 900)
---@return table|nil
---@return alaris.Error|nil
function cnpg.wait_backup(kc, namespace, name, timeout) end

---A Deployment `Available` with every replica available.
---@param kc alaris.k8s.Client
---@param namespace string
---@param name string
---@param timeout? number seconds (default 300)
---@return table|nil
---@return alaris.Error|nil
function cnpg.wait_available(kc, namespace, name, timeout) end

---A LoadBalancer Service's first ingress address (ip or hostname), and the Service.
---@param kc alaris.k8s.Client
---@param namespace string
---@param name string
---@param timeout? number seconds (default 300)
---@return string|nil address
---@return table|alaris.Error|nil service_or_err
function cnpg.wait_lb_address(kc, namespace, name, timeout) end

return cnpg
