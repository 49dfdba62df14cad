---@meta
-- LuaLS type stubs for `alaris.platform` (stdlib/alaris/platform.lua): applying a set of cluster objects, undoing
-- only its own creations, dry-run plans, and waits whose timeout says why. For editors only; tests/types_test.lua
-- checks it against the real module.

---A journal-safe reference to an object: strings only.
---@class alaris.platform.Ref
---@field apiVersion string
---@field kind string
---@field name string
---@field namespace? string

---What an apply did: references to the objects it created (what a rollback may delete) and changed.
---@class alaris.platform.ApplyResult
---@field created alaris.platform.Ref[]
---@field changed alaris.platform.Ref[]
---@field unchanged integer objects whose resourceVersion did not move

---@class alaris.platform.ApplyOptions
---@field force? boolean take over fields another field manager owns
---@field timeout? number seconds to wait for each CRD to be Established (default 120)

---@class alaris.platform.PlanOptions
---@field force? boolean

---@class alaris.platform.DeleteOptions
---@field timeout? number seconds to wait for a Namespace or CRD to be gone (default 180)
---@field log? alaris.log logs `deleted Kind ns/name` per object

---@class alaris.platform
---@field FIELD_MANAGER string `alaris`
local platform = {}

---`value, ...` when value is not nil; otherwise raises `err` (for calls returning `nil, err`).
---@generic T
---@param value T|nil
---@param err any
---@param ... any
---@return T
function platform.must(value, err, ...) end

---What a lookup found (nil when nothing), raising `err` when there is one (for calls returning `nil` or `nil, err`).
---@generic T
---@param value T|nil
---@param err any
---@return T|nil
function platform.found(value, err) end

---@param obj alaris.k8s.Object
---@return alaris.platform.Ref
function platform.ref(obj) end

---`Kind namespace/name` (or `Kind name` for a cluster-scoped object).
---@param ref alaris.platform.Ref|alaris.k8s.Object
---@return string
function platform.describe(ref) end

---Namespaces first, then CustomResourceDefinitions, then the rest in the order given (as kubectl apply does).
---@param objects alaris.k8s.Object[]
---@return alaris.k8s.Object[]
function platform.ordered(objects) end

---The live object, or nil when it does not exist; other failures raise.
---@param kc alaris.k8s.Client
---@param obj alaris.k8s.Object
---@return table|nil
function platform.live(kc, obj) end

---Deletes the referenced objects, newest first (Namespaces and CRDs waited until gone); one already gone is fine.
---@param kc alaris.k8s.Client
---@param refs alaris.platform.Ref[]
---@param opts? alaris.platform.DeleteOptions
function platform.delete(kc, refs, opts) end

---The latest `n` (default 3) Events about an object, newest last, as one line (`none` when there are none).
---@param kc alaris.k8s.Client
---@param ref alaris.platform.Ref|alaris.k8s.Object
---@param n? integer
---@return string
function platform.latest_events(kc, ref, n) end

---Waits through a watch for the condition to be True; returns the object. A timeout raises one line naming the
---object, its conditions and its latest Events.
---@param kc alaris.k8s.Client
---@param ref alaris.platform.Ref|alaris.k8s.Object
---@param condition string e.g. `Available`, `Established`, `Ready`
---@param timeout number seconds
---@return table
function platform.wait_condition(kc, ref, condition, timeout) end

---Waits concurrently for every object of a kind `kinds` names (default CRDs `Established`, Deployments
---`Available`); returns how many were waited for. Raises the first timeout.
---@param kc alaris.k8s.Client
---@param objects alaris.k8s.Object[]
---@param timeout number seconds for each wait
---@param kinds? table<string, string> kind -> condition
---@return integer
function platform.wait_ready(kc, objects, timeout, kinds) end

---Server-side applies the objects (field manager `alaris`): Namespaces, then CRDs (each waited Established), then
---the rest, each group concurrently. When one fails, every object this call meant to create is deleted again
---before the error is raised.
---@param kc alaris.k8s.Client
---@param objects alaris.k8s.Object[]
---@param opts? alaris.platform.ApplyOptions
---@return alaris.platform.ApplyResult
function platform.apply(kc, objects, opts) end

---One line for the log: `created 3, changed 0, unchanged 25`, or `no change: N objects already as wanted ...`.
---@param result alaris.platform.ApplyResult
---@return string
function platform.summary(result) end

---The changed fields between the live object and the dry-run result, as `    ~ path: old -> new` lines, sorted
---(Secret values hidden; status and server-set metadata ignored).
---@param obj alaris.k8s.Object
---@param live table
---@param wanted table
---@return string[]
function platform.diff(obj, live, wanted) end

---What applying each object would do, from a server-side dry-run apply: `create`, `unchanged` or `change` lines,
---a change followed by its diff lines. Changes nothing.
---@param kc alaris.k8s.Client
---@param objects alaris.k8s.Object[]
---@param opts? alaris.platform.PlanOptions
---@return string[]
function platform.plan(kc, objects, opts) end

return platform
