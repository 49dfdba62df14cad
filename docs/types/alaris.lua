---@meta
-- LuaLS type stubs for `alaris` (engine/alaris.c): tasks on the event loop, time, interrupts and the secret
-- registry, plus alaris.Error, the error value every module returns for expected failures.
-- For editors only: never loaded at run time. tests/types_test.lua checks it against the real module.

---The one error value of alaris (`alaris.error`): functions return `nil, err` for expected failures.
---`tostring(err)` is `err.message` on one line. Every module uses the same `code` for the same condition (the
---list is in docs/modules/alaris.md); each adds fields of its own (`alaris.http.Error`, `alaris.pg.Error`, ...).
---@class alaris.Error
---@field code string machine-readable: `"timeout"`, `"not_found"`, `"conflict"`, `"forbidden"`, `"connect"`, ...
---@field message string for people
---@field status? integer the HTTP status of an answer
---@field reason? string the service's own word for the failure (`"AlreadyExists"`, `"NoSuchKey"`, ...)
---@field details? any what the service said beyond the message

---A task: a Lua coroutine scheduled by the event loop (`alaris.spawn`).
---@class alaris.Task
local Task = {}

---Waits until the task ends: `true, results...` when it returned, `false, err, traceback` when it raised,
---`nil, err` (`err.code == "timeout"`) when `timeout` seconds passed first (the task goes on).
---@param timeout? number seconds
---@return boolean|nil ok
---@return any ... the task's results, or its error and traceback, or the timeout error
function Task:wait(timeout) end

---Raises `why` inside the task at its current or next wait (delivered once).
---@param why? any default `"cancelled"`
function Task:cancel(why) end

---Whether the task has ended.
---@return boolean
function Task:done() end

---One task waits until another says something happened.
---@class alaris.Notifier
local Notifier = {}

---Suspends the calling task until `notify` (at once when a notify came while nobody waited).
---@param timeout? number seconds
---@return true|nil ok
---@return alaris.Error|nil err `err.code == "timeout"`
function Notifier:wait(timeout) end

---Wakes the task waiting on this notifier, or lets the next `wait` return at once.
function Notifier:notify() end

---@class alaris
---@field version string the engine's version string
local alaris = {}

---Monotonic seconds, for durations.
---@return number
function alaris.now() end

---Wall-clock seconds since the epoch, with a fraction.
---@return number
function alaris.time() end

---Suspends the calling task for `s` seconds; other tasks run meanwhile.
---@param s number
function alaris.sleep(s) end

---Lets the other runnable tasks run, then continues.
function alaris.yield() end

---A new error value: the `fields` are copied, then `code` and `message` set.
---@param code string
---@param message string
---@param fields? table e.g. `{status = 404, reason = "NotFound"}`
---@return alaris.Error
function alaris.error(code, message, fields) end

---Whether `v` is an error value (made by `alaris.error` or by any module).
---@param v any
---@return boolean
function alaris.is_error(v) end

---Starts `fn(...)` as a new task.
---@param fn fun(...): any
---@param ... any
---@return alaris.Task
function alaris.spawn(fn, ...) end

---Waits for a task: `true, results...` | `false, err, traceback` | `nil, err` (`err.code == "timeout"`).
---@param task alaris.Task
---@param timeout? number seconds
---@return boolean|nil ok
---@return any ...
function alaris.wait(task, timeout) end

---Raises `why` (default `"cancelled"`) inside the task at its current or next wait.
---@param task alaris.Task
---@param why? any
function alaris.cancel(task, why) end

---A new notifier: `n:wait([timeout])` in one task, `n:notify()` from another.
---@return alaris.Notifier
function alaris.notifier() end

---Waits until a file descriptor is ready.
---@param fd integer
---@param mode "r"|"w"|"rw"
---@param timeout? number seconds
---@return "r"|"w"|"rw"|nil ready
---@return alaris.Error|nil err `err.code == "timeout"`
function alaris.wait_fd(fd, mode, timeout) end

---True once SIGINT or SIGTERM arrived.
---@return boolean
function alaris.interrupted() end

---From now on a signal does not stop the calling task in its Lua code: it gets `"interrupted"` at its next wait.
function alaris.shield_interrupts() end

---Registers `v` to be masked as `***` in everything alaris writes; returns it (a number as its text).
---@param v string|number
---@return string
function alaris.secret(v) end

---`s` with every registered secret replaced by `***`.
---@param s string
---@return string
function alaris.mask(s) end

---True when `s` contains a registered secret.
---@param s string
---@return boolean
function alaris.is_secret(s) end

---Whether a descriptor is a terminal.
---@param fd integer
---@return boolean
function alaris.isatty(fd) end

---POSIX extended regular expression match (as `grep -E`).
---@param re string
---@param s string
---@return boolean|nil matched
---@return string|nil err a bad expression: its message
function alaris.regex_match(re, s) end

return alaris
