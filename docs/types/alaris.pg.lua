---@meta
-- LuaLS type stubs for `alaris.pg` (stdlib/alaris/pg.lua over bindings/pg.c): PostgreSQL over libpq on the event
-- loop. For editors only; tests/types_test.lua checks it against the real module and the connection's methods.

---The server's error by its SQLSTATE: `"conflict"` (23505, ...), `"not_found"` (42P01, 3D000, ...), `"forbidden"`,
---`"unauthorized"` (28xxx), `"invalid"` (42601, 22xxx, ...), `"timeout"` (57014), else `"sql"`; also `"connect"`,
---`"timeout"`, `"connection"` (the connection broke), `"param"`, `"unsupported"` (COPY), `"rollback"` (`db:transaction`).
---@class alaris.pg.Error: alaris.Error
---@field sqlstate? string e.g. `"23505"` unique violation, `"42601"` syntax error, `"28P01"` wrong password
---@field severity? string `"ERROR"`, `"FATAL"`
---@field detail? string
---@field hint? string
---@field position? integer 1-based character in the SQL
---@field context? string
---@field schema? string
---@field table? string
---@field column? string
---@field datatype? string
---@field constraint? string

---How SQL NULL reads in results; as a parameter it means NULL. `tostring` gives `"pg.null"`.
---@class alaris.pg.Null: userdata

---@class alaris.pg.Field
---@field name string
---@field type? string `"int4"`, `"text[]"`, ... for the types the module decodes
---@field oid integer

---Rows keyed by column name (`res[1].name`), plus the metadata below.
---@class alaris.pg.Result
---@field [integer] table<string, any>
---@field fields alaris.pg.Field[] in column order
---@field command string the command tag, e.g. `"SELECT 1"`
---@field count integer rows returned or affected

---@class alaris.pg.Notice
---@field severity string
---@field sqlstate string
---@field message string
---@field detail? string
---@field hint? string

---@alias alaris.pg.Param nil|boolean|integer|number|string|alaris.pg.Null

---A connection. One command at a time; give each task its own connection to run queries concurrently.
---@class alaris.pg.Connection
local Connection = {}

---One statement with parameters `$1`, `$2`, ... taken from the arguments (the extended protocol).
---@param sql string
---@param ... alaris.pg.Param
---@return alaris.pg.Result|nil result
---@return alaris.pg.Error|nil err
function Connection:query(sql, ...) end

---Any number of `;`-separated statements, no parameters; the result of the last one, or the first error.
---@param sql string
---@return alaris.pg.Result|nil result
---@return alaris.pg.Error|nil err
function Connection:exec(sql) end

---`BEGIN`, `fn(db)`, `COMMIT` (a savepoint when nested). If `fn` raises: `ROLLBACK` and the error is raised again.
---@param fn fun(db: alaris.pg.Connection): ...
---@return true|nil ok
---@return any ... what `fn` returned, or the error (`"rollback"` when a statement in `fn` failed)
function Connection:transaction(fn) end

---The notices the server sent since the last call (at most the newest 100); taking them clears the list.
---@return alaris.pg.Notice[]
function Connection:notices() end

---libpq's `PQtransactionStatus`.
---@return "idle"|"intrans"|"inerror"|"active"|"unknown"
function Connection:transaction_status() end

---`PQescapeIdentifier` with this connection's settings.
---@param s string
---@return string
function Connection:quote_ident(s) end

---`PQescapeLiteral` with this connection's settings.
---@param s string
---@return string
function Connection:quote_literal(s) end

---Ends the session; idempotent. Also run by `<close>` and garbage collection.
---@return true
function Connection:close() end

---Whether the connection is closed.
---@return boolean
function Connection:closed() end

---@class alaris.pg
---@field null alaris.pg.Null SQL NULL in results (also inside arrays)
local pg = {}

---Connects with a libpq connection string or URI, or a table of libpq keywords; libpq's `PG*` variables fill in
---what is missing. The password is masked in all output.
---@param conninfo? string|table<string, string|number>
---@return alaris.pg.Connection|nil db
---@return alaris.pg.Error|nil err `"connect"`, `"unauthorized"`, `"not_found"` (`sqlstate` says why), `"timeout"`
function pg.connect(conninfo) end

---`PQescapeIdentifier` without a server.
---@param s string
---@return string
function pg.quote_ident(s) end

---`PQescapeLiteral` without a server (`E'...'` when `s` holds a backslash).
---@param s string
---@return string
function pg.quote_literal(s) end

return pg
