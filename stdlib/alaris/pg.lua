-- alaris.pg: PostgreSQL for playbooks. The C core (bindings/pg.c, alaris.pg.core) connects and runs queries
-- without blocking the event loop; this overlay adds the policy on top: db:transaction(fn).
-- It does not retry, pool connections or build SQL.
local alaris = require "alaris"
local core = require "alaris.pg.core"

local pg = {}
for name, value in pairs(core) do
  if name ~= "connection_methods" then pg[name] = value end
end

local methods = core.connection_methods
local savepoints = 0

-- Skipped when the connection is gone or a command of it is still in flight (its task was interrupted).
local function rollback(db, savepoint)
  if db:closed() then return end
  local status = db:transaction_status()
  if status ~= "intrans" and status ~= "inerror" then return end
  if savepoint then
    db:exec("ROLLBACK TO SAVEPOINT " .. savepoint .. "; RELEASE SAVEPOINT " .. savepoint)
  else
    db:exec("ROLLBACK")
  end
end

-- db:transaction(fn) -> true, fn's results | nil, err
-- BEGIN; fn(db); COMMIT. If fn raises: ROLLBACK, then the error is raised again. Inside another transaction it
-- uses a savepoint instead, so transactions nest. A COMMIT that fails, or that the server turns into a ROLLBACK
-- because a statement in fn failed (and fn carried on), returns nil, err.
function methods.transaction(db, fn)
  if type(fn) ~= "function" then error("bad argument #1 to 'transaction' (function expected)", 2) end
  local savepoint
  if db:transaction_status() ~= "idle" then
    savepoints = savepoints + 1
    savepoint = "alaris_savepoint_" .. savepoints
  end
  local ok, err = db:exec(savepoint and ("SAVEPOINT " .. savepoint) or "BEGIN")
  if not ok then return nil, err end
  local results = table.pack(pcall(fn, db))
  if not results[1] then
    rollback(db, savepoint)
    error(results[2], 0)
  end
  local done, cerr = db:exec(savepoint and ("RELEASE SAVEPOINT " .. savepoint) or "COMMIT")
  if not done then return nil, cerr end
  if done.command == "ROLLBACK" then
    return nil, alaris.error("rollback", "the transaction was rolled back: a statement in it failed")
  end
  return true, table.unpack(results, 2, results.n)
end

return pg
