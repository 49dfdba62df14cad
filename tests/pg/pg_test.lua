-- alaris.pg against a real PostgreSQL started by tests/support/pg-server (PGHOST, PGPORT, PGUSER, PGDATABASE and
-- PGPASSFILE come from its env file). Covers types both ways, parameters, errors, connection failures,
-- transactions, <close>, cancellation, concurrency on the event loop and a large result.
-- It does not test TLS, which the throw-away server does not offer.
local T = require "testing"
local alaris = require "alaris"
local pg = require "alaris.pg"

local function connect(extra)
  return assert(pg.connect(extra))
end

-- The app role's password, from the fixture's PGPASSFILE (host:port:db:user:password).
local function app_password()
  local line = T.read_file(os.getenv("PGPASSFILE")):match("[^\n]+")
  return line:match("([^:]*)$")
end

local function one(db, sql, ...)
  local res, err = db:query(sql, ...)
  if not res then error(tostring(err) .. " (" .. tostring(err.sqlstate) .. ")", 2) end
  return res[1]
end

-- A TCP port on 127.0.0.1 that completes handshakes but never reads or answers (a perl process that listens
-- without accepting). Returns the port and a function that stops it.
local function silent_listener()
  local p = io.popen([[exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(Listen => 5,
    LocalAddr => "127.0.0.1", LocalPort => 0) or die "listen: $!"; $| = 1; print $s->sockport, " $$\n"; sleep 20']])
  local port, pid = p:read("l"):match("^(%d+) (%d+)$")
  return tonumber(port), function()
    os.execute("kill " .. pid)
    p:close()
  end
end

-- Polls fn (up to about 3 s) until it returns true.
local function eventually(fn)
  for _ = 1, 30 do
    if fn() then return true end
    alaris.sleep(0.1)
  end
  return false
end

T.test("connects from the PG* environment, from a conninfo string and from a table", function()
  local db <close> = connect()
  T.eq(one(db, "select current_user as u, current_database() as d"), { u = "app", d = "app" })
  local conninfo = string.format("host=%s port=%s dbname=app user=app password=%s connect_timeout=5",
    os.getenv("PGHOST"), os.getenv("PGPORT"), app_password())
  local db2 <close> = connect(conninfo)
  T.eq(one(db2, "select 1 as one").one, 1)
  T.ok(alaris.is_secret(app_password()), "the password is registered for masking")
  local db3 <close> = connect { host = os.getenv("PGHOST"), port = tonumber(os.getenv("PGPORT")), dbname = "app",
    user = "app", password = app_password(), sslmode = "disable" }
  T.eq(one(db3, "show client_encoding").client_encoding, "UTF8")
  T.contains(tostring(db3), "alaris.pg.conn 127.0.0.1:")
end)

T.test("decodes each type by its OID", function()
  local db <close> = connect()
  local row = one(db, [[select 32767::int2 as i2, '-2147483648'::int4 as i4, 9223372036854775807::int8 as i8,
    4000000000::oid as o, 0.25::float4 as f4, 0.1::float8 as f8, 'NaN'::float8 as nan, '-Infinity'::float8 as ninf,
    123456789012345678901234567890.000000001::numeric as n, true as t, false as f, 'héllo ☃'::text as txt,
    'v'::varchar(3) as vc, 'ab'::char(3) as bp, 'pg_class'::name as nm,
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u, '{"a": [1, 2]}'::json as j, '{"b": 1, "a": 2}'::jsonb as jb,
    '\x00ff10'::bytea as b, '2024-02-29 12:34:56.5'::timestamp as ts, '2024-02-29 12:34:56+02'::timestamptz as tz,
    '2024-02-29'::date as d, '12:30'::time as tm, '1 day 02:03:04'::interval as iv, null::int as nul]])
  T.eq(row.i2, 32767)
  T.eq(math.type(row.i2), "integer")
  T.eq(row.i4, -2147483648)
  T.eq(row.i8, math.maxinteger)
  T.eq(row.o, 4000000000)
  T.eq(row.f4, 0.25)
  T.eq(math.type(row.f8), "float")
  T.eq(row.f8, 0.1)
  T.ok(row.nan ~= row.nan, "NaN reads as NaN")
  T.eq(row.ninf, -math.huge)
  T.eq(row.n, "123456789012345678901234567890.000000001")
  T.eq(row.t, true)
  T.eq(row.f, false)
  T.eq(row.txt, "héllo ☃")
  T.eq(row.vc, "v")
  T.eq(row.bp, "ab ")
  T.eq(row.nm, "pg_class")
  T.eq(row.u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
  T.eq(row.j, '{"a": [1, 2]}')
  T.eq(row.jb, '{"a": 2, "b": 1}')
  T.eq(row.b, "\0\255\16")
  T.eq(row.ts, "2024-02-29 12:34:56.5")
  T.eq(row.tz, "2024-02-29 10:34:56+00")
  T.eq(row.d, "2024-02-29")
  T.eq(row.tm, "12:30:00")
  T.eq(row.iv, "1 day 02:03:04")
  T.ok(row.nul == pg.null, "SQL NULL reads as pg.null")
  T.eq(tostring(pg.null), "pg.null")
end)

T.test("every type goes in as a parameter and comes back unchanged through a table", function()
  local db <close> = connect()
  assert(db:exec([[create temporary table everything (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
    n numeric, b bool, t text, vc varchar(20), nm name, u uuid, j json, jb jsonb, by bytea, ts timestamp,
    d date, iv interval, ia int4[], ta text[])]]))
  local all_bytes = {}
  for i = 0, 255 do all_bytes[#all_bytes + 1] = string.char(i) end
  all_bytes = table.concat(all_bytes)
  local values = { -32768, 2147483647, math.mininteger, 1.5, 0.1, "-0.000000000000000000001", true,
    "it's \"quoted\" \\ ünïcode ✓", "varchar", "a_name", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    '{"k": "v\\n"}', '{"k": "v\\n"}', all_bytes, "1999-12-31 23:59:59", "2000-01-01", "3 days 04:05:06",
    "{1,2,NULL}", '{"a,b","c\\"d",NULL}' }
  local inserted = assert(db:query([[insert into everything values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
    $11, $12, $13, $14, $15, $16, $17, $18, $19)]], table.unpack(values)))
  T.eq(inserted.command, "INSERT 0 1")
  T.eq(inserted.count, 1)
  local row = one(db, "select * from everything")
  T.eq(row.i2, -32768)
  T.eq(row.i4, 2147483647)
  T.eq(row.i8, math.mininteger)
  T.eq(row.f4, 1.5)
  T.eq(row.f8, 0.1)
  T.eq(row.n, "-0.000000000000000000001")
  T.eq(row.b, true)
  T.eq(row.t, values[8])
  T.eq(row.vc, "varchar")
  T.eq(row.nm, "a_name")
  T.eq(row.u, values[11])
  T.eq(row.j, '{"k": "v\\n"}')
  T.eq(row.jb, '{"k": "v\\n"}')
  T.eq(row.by, all_bytes)
  T.eq(row.ts, "1999-12-31 23:59:59")
  T.eq(row.d, "2000-01-01")
  T.eq(row.iv, "3 days 04:05:06")
  T.eq(row.ia, { 1, 2, pg.null })
  T.eq(row.ta, { "a,b", 'c"d', pg.null })
end)

T.test("one-dimensional arrays become Lua arrays, quoting and NULL included", function()
  local db <close> = connect()
  local row = one(db, [[select array[1, null, 3]::int8[] as i, array['plain', 'with space', 'comma,', 'quote"',
    'back\slash', 'NULL', '', '{brace}', null]::text[] as t, array[true, false]::bool[] as b,
    array[1.5, -0.25]::float8[] as f, array[1.10]::numeric[] as n, array['\x0001'::bytea, '\x'::bytea] as by,
    array['2024-01-01'::date] as d, '{}'::int[] as empty, '[0:1]={7,8}'::int[] as lower_bound,
    '{{1,2},{3,4}}'::int[] as matrix, array['{"a": 1}'::jsonb] as jb]])
  T.eq(row.i, { 1, pg.null, 3 })
  T.eq(math.type(row.i[1]), "integer")
  T.eq(row.t, { "plain", "with space", "comma,", 'quote"', "back\\slash", "NULL", "", "{brace}", pg.null })
  T.eq(row.b, { true, false })
  T.eq(row.f, { 1.5, -0.25 })
  T.eq(row.n, { "1.10" })
  T.eq(row.by, { "\0\1", "" })
  T.eq(row.d, { "2024-01-01" })
  T.eq(row.empty, {})
  T.eq(row.lower_bound, { 7, 8 })
  T.eq(row.matrix, "{{1,2},{3,4}}", "multi-dimensional arrays stay text")
  T.eq(row.jb, { '{"a": 1}' })
end)

T.test("parameters: quotes, NULLs, UTF-8, numbers, booleans and NUL bytes", function()
  local db <close> = connect()
  local row = one(db, "select $1::text as q, $2::int as a, $3::text as b, $4::int as c, $5::text as u",
    "Robert'); drop table students;--", nil, pg.null, 7, "日本語 ✓ émoji 🎉")
  T.eq(row.q, "Robert'); drop table students;--")
  T.ok(row.a == pg.null and row.b == pg.null, "nil and pg.null are both SQL NULL")
  T.eq(row.c, 7)
  T.eq(row.u, "日本語 ✓ émoji 🎉")
  row = one(db, "select $1::bool as t, $2::bool as f, $3::int8 as big, $4::int8 as small, $5::float8 as x," ..
    " $6::float8 as inf, $7::numeric as exact, $8::int as last", true, false, math.maxinteger, math.mininteger, 0.1,
    math.huge, 0.1, 8)
  T.eq(row, { t = true, f = false, big = math.maxinteger, small = math.mininteger, x = 0.1, inf = math.huge,
    exact = "0.1", last = 8 })
  -- bytea takes every byte, NUL and backslashes included; text keeps backslashes as they are
  row = one(db, "select $1::bytea as b, length($1::bytea) as n, $2::text as t", "a\0b\\x00\\\\c\0", "x\\y\\\\z")
  T.eq(row.b, "a\0b\\x00\\\\c\0")
  T.eq(row.n, 11)
  T.eq(row.t, "x\\y\\\\z")
  -- PostgreSQL text cannot hold NUL: the server refuses it rather than cutting the string short
  local res, err = db:query("select $1::text as t", "before\0after")
  T.eq(res, nil)
  T.eq(err.sqlstate, "22021")
  T.contains(err.message, "0x00")
  res, err = db:query("select $1::int as i", "4\0")
  T.eq(res, nil)
  T.eq(err.code, "param")
  T.raises(function() db:query("select $1", {}) end, "nil, pg.null, boolean, number or string expected")
  T.eq(one(db, "select 'still usable' as s").s, "still usable")
end)

T.test("results carry fields, command tag and count", function()
  local db <close> = connect()
  assert(db:exec("create temporary table counted (id int primary key, name text)"))
  local res = assert(db:query("insert into counted select g, 'n' || g from generate_series(1, 5) g"))
  T.eq(res.command, "INSERT 0 5")
  T.eq(res.count, 5)
  T.eq(#res, 0)
  res = assert(db:query("update counted set name = upper(name) where id > $1", 2))
  T.eq({ res.command, res.count }, { "UPDATE 3", 3 })
  res = assert(db:query("select id, name, id::numeric as dec from counted where id <= 2 order by id"))
  T.eq(res.command, "SELECT 2")
  T.eq(res.count, 2)
  T.eq(res[2], { id = 2, name = "n2", dec = "2" })
  T.eq(res.fields, { { name = "id", type = "int4", oid = 23 }, { name = "name", type = "text", oid = 25 },
    { name = "dec", type = "numeric", oid = 1700 } })
  res = assert(db:query("delete from counted"))
  T.eq({ res.command, res.count }, { "DELETE 5", 5 })
end)

T.test("exec runs several statements and returns the last result", function()
  local db <close> = connect()
  local res = assert(db:exec([[create temporary table multi (v int); insert into multi values (1), (2);
    select sum(v) as total from multi]]))
  T.eq(res[1].total, 3)
  local _, err = db:exec("insert into multi values (3); select 1/0; insert into multi values (4)")
  T.eq(err.sqlstate, "22012")
  T.eq(one(db, "select count(*) as n from multi").n, 2, "a failed multi-statement exec runs as one transaction")
  T.raises(function() db:exec() end, "string expected")
end)

T.test("syntax error: 42601 with severity and position", function()
  local db <close> = connect()
  local res, err = db:query("select 1 from where")
  T.eq(res, nil)
  T.eq(err.code, "invalid", "the code every module gives a malformed request")
  T.eq(err.sqlstate, "42601")
  T.eq(err.severity, "ERROR")
  T.eq(err.position, 15)
  T.contains(tostring(err), "syntax error at or near \"where\"")
end)

T.test("unique violation: 23505 with detail and constraint; a hint when the server gives one", function()
  local db <close> = connect()
  assert(db:exec("create temporary table uniq (email text constraint uniq_email unique)"))
  assert(db:query("insert into uniq values ($1)", "a@example.com"))
  local res, err = db:query("insert into uniq values ($1)", "a@example.com")
  T.eq(res, nil)
  T.eq(err.sqlstate, "23505")
  T.eq(err.code, "conflict", "the code every module gives a duplicate")
  T.eq(err.constraint, "uniq_email")
  T.eq(err.table, "uniq")
  T.contains(err.detail, "(email)=(a@example.com) already exists")
  _, err = db:query("select lower(1)")
  T.eq(err.sqlstate, "42883")
  T.eq(err.code, "not_found")
  T.contains(err.hint, "explicit type casts")
end)

T.test("wrong password: 28P01, and the password shows nowhere", function()
  local secret = "Wr0ng-pa55-" .. tostring(os.time())
  local db, err = pg.connect { password = secret }
  T.eq(db, nil)
  T.eq(err.code, "unauthorized", "the code every module gives refused credentials")
  T.eq(err.sqlstate, "28P01")
  T.eq(err.severity, "FATAL")
  T.contains(err.message, 'password authentication failed for user "app"')
  T.not_contains(err.message, "LOCATION")
  T.not_contains(err.message, secret)
  db, err = pg.connect("host=127.0.0.1 port=" .. os.getenv("PGPORT") .. " password=" .. secret)
  T.eq(err.sqlstate, "28P01")
  T.not_contains(tostring(err), secret)
  T.ok(alaris.is_secret(secret), "a password given to connect is masked in all output")
  -- a conninfo string libpq cannot parse is reported without echoing what follows password=
  db, err = pg.connect("host=127.0.0.1 password=" .. secret .. " trailing" .. secret)
  T.eq(db, nil)
  T.contains(err.message, "invalid connection string")
  T.not_contains(err.message, secret)
  db, err = pg.connect { dbname = "no_such_database" }
  T.eq(err.sqlstate, "3D000")
  T.eq(err.code, "not_found")
end)

T.test("a server that never answers fails within connect_timeout", function()
  local port, stop = silent_listener()
  local started = alaris.now()
  local db, err = pg.connect(string.format("host=127.0.0.1 port=%d connect_timeout=1", port))
  local took = alaris.now() - started
  stop()
  T.eq(db, nil)
  T.eq(err.code, "timeout")
  T.contains(err.message, "within connect_timeout")
  T.ok(took >= 0.9 and took < 1.8, "failed after " .. took .. " s")
  local closed = assert(io.popen("exec perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, " ..
    "LocalAddr => \"127.0.0.1\", LocalPort => 0)->sockport'")):read("a")
  db, err = pg.connect { host = "127.0.0.1", port = closed, connect_timeout = 5 }
  T.eq(err.code, "connect")
  T.contains(err.message, "Connection refused")
end)

T.test("transactions commit, roll back and re-raise, and nest with savepoints", function()
  local db <close> = connect()
  assert(db:exec("create temporary table ledger (v int)"))
  local ok, value = db:transaction(function(tx)
    assert(tx:query("insert into ledger values ($1)", 1))
    return "done"
  end)
  T.eq({ ok, value }, { true, "done" })
  local raised, e = pcall(db.transaction, db, function(tx)
    assert(tx:query("insert into ledger values ($1)", 2))
    error({ reason = "changed my mind" })
  end)
  T.eq(raised, false)
  T.eq(e, { reason = "changed my mind" }, "the error value is raised again unchanged")
  T.eq(db:transaction_status(), "idle")
  T.eq(db:query("select v from ledger order by v").count, 1)
  -- nested: the inner failure rolls back only the inner part
  assert(db:transaction(function(tx)
    assert(tx:query("insert into ledger values (10)"))
    pcall(tx.transaction, tx, function(inner)
      assert(inner:query("insert into ledger values (11)"))
      error("inner fails")
    end)
    assert(tx:transaction(function(inner) assert(inner:query("insert into ledger values (12)")) end))
  end))
  local rows = assert(db:query("select v from ledger order by v"))
  T.eq({ rows[1].v, rows[2].v, rows[3].v, #rows }, { 1, 10, 12, 3 })
  -- a statement that failed without fn raising turns COMMIT into ROLLBACK: reported, not silently lost
  local done, cerr = db:transaction(function(tx)
    tx:query("insert into ledger values (20)")
    tx:query("select 1/0")
  end)
  T.eq(done, nil)
  T.eq(cerr.code, "rollback")
  T.eq(db:query("select count(*) as n from ledger where v = 20")[1].n, 0)
end)

T.test("<close> and close end the session; a closed connection raises", function()
  local pid
  do
    local db <close> = connect()
    pid = one(db, "select pg_backend_pid() as pid").pid
  end
  local watcher <close> = connect()
  T.ok(eventually(function()
    return one(watcher, "select count(*) as n from pg_stat_activity where pid = $1", pid).n == 0
  end), "the server session ended")
  local db = connect()
  T.eq(db:close(), true)
  T.eq(db:close(), true, "idempotent")
  T.ok(db:closed())
  T.raises(function() db:query("select 1") end, "attempt to use a closed connection")
  T.raises(function() db:exec("select 1") end, "attempt to use a closed connection")
  T.eq(tostring(db), "alaris.pg.conn (closed)")
end)

T.test("two queries on two connections in two tasks overlap", function()
  local a, b = connect(), connect()
  local started = alaris.now()
  local ta = alaris.spawn(function() return one(a, "select pg_sleep(1)::text as s, 'a' as who").who end)
  local tb = alaris.spawn(function() return one(b, "select pg_sleep(1)::text as s, 'b' as who").who end)
  local ticks = 0
  local ticker = alaris.spawn(function()
    while not tb:done() do
      ticks = ticks + 1
      alaris.sleep(0.05)
    end
  end)
  T.eq({ alaris.wait(ta) }, { true, "a" })
  T.eq({ alaris.wait(tb) }, { true, "b" })
  alaris.wait(ticker)
  local took = alaris.now() - started
  T.ok(took >= 0.95 and took < 1.8, "both took " .. took .. " s")
  T.ok(ticks >= 10, "other tasks kept running while the queries waited (" .. ticks .. " ticks)")
  a:close()
  b:close()
end)

T.test("a connection used by two tasks at once raises in the second", function()
  local db <close> = connect()
  local slow = alaris.spawn(function() return one(db, "select pg_sleep(0.3)::text as s") end)
  alaris.sleep(0.05)
  T.raises(function() db:query("select 1") end, "busy with a query of another task")
  T.ok((alaris.wait(slow)))
  T.eq(one(db, "select 2 as n").n, 2)
end)

T.test("cancelling a task cancels its query on the server and closes the connection", function()
  local db = connect()
  local watcher <close> = connect()
  local pid = one(db, "select pg_backend_pid() as pid").pid
  local task = alaris.spawn(function() return db:query("select pg_sleep(30)") end)
  alaris.sleep(0.3)
  local started = alaris.now()
  alaris.cancel(task)
  local ok, err = alaris.wait(task)
  T.eq(ok, false)
  T.contains(tostring(err), "cancelled")
  T.ok(alaris.now() - started < 1, "the cancellation was prompt")
  T.ok(db:closed(), "the connection is closed")
  T.raises(function() db:query("select 1") end, "its query was cancelled")
  T.ok(eventually(function()
    return one(watcher, "select count(*) as n from pg_stat_activity where pid = $1", pid).n == 0
  end), "the server stopped the query")
end)

T.test("cancelling a task while it connects stops the attempt", function()
  local port, stop = silent_listener()
  local task = alaris.spawn(function() return pg.connect { host = "127.0.0.1", port = port } end)
  alaris.sleep(0.2)
  local started = alaris.now()
  alaris.cancel(task)
  local ok, err = alaris.wait(task)
  stop()
  T.eq(ok, false)
  T.contains(tostring(err), "cancelled")
  T.ok(alaris.now() - started < 0.5, "the cancellation was prompt")
end)

T.test("a session the server ends gives an error and a closed connection", function()
  local db = connect()
  local admin <close> = connect()
  local pid = one(db, "select pg_backend_pid() as pid").pid
  T.eq(one(admin, "select pg_terminate_backend($1) as done", pid).done, true)
  alaris.sleep(0.1)
  local res, err = db:query("select 1")
  T.eq(res, nil)
  T.ok(err.code == "connection" or err.sqlstate == "57P01", "connection error, got " .. tostring(err))
  T.ok(db:closed(), "the broken connection is closed")
  T.raises(function() db:query("select 1") end, "connection to the server was lost")
end)

T.test("a query outside a task raises and leaves the connection usable", function()
  local db <close> = connect()
  local ok, err = pcall(coroutine.wrap(function() return db:query("select 1") end))
  T.eq(ok, false)
  T.contains(tostring(err), "not inside an alaris task")
  T.eq(one(db, "select 4 as n").n, 4)
end)

T.test("SQL text with a NUL byte raises instead of being cut short", function()
  local db <close> = connect()
  T.raises(function() db:query("select 1\0 as n") end, "NUL")
  T.raises(function() db:exec("select 1;\0 drop table x") end, "NUL")
  T.eq(one(db, "select 5 as n").n, 5)
end)

T.test("a script ending while a query runs closes the connection and the server stops the query", function()
  local dir = T.tmpdir()
  local marker = "alaris_orphan_" .. tostring(os.time())
  T.write_file(dir .. "/orphan.lua", string.format([[
    local alaris = require "alaris"
    local pg = require "alaris.pg"
    local db = assert(pg.connect())
    alaris.spawn(function() db:query("select pg_sleep(30) as %s") end)
    alaris.sleep(0.2)
    print("leaving")
  ]], marker))
  local started = alaris.now()
  local out, err, code = T.run(T.sh_quote(T.alaris_run) .. " " .. T.sh_quote(dir .. "/orphan.lua"))
  T.eq(code, 0, err)
  T.contains(out, "leaving")
  T.ok(alaris.now() - started < 5, "the script did not wait for its query")
  local watcher <close> = connect()
  T.ok(eventually(function()
    return one(watcher, "select count(*) as n from pg_stat_activity where query like $1 and pid <> pg_backend_pid()",
      "%" .. marker .. "%").n == 0
  end), "the server stopped the orphaned query")
end)

T.test("notices are kept until db:notices() takes them", function()
  local db <close> = connect()
  assert(db:exec([[do $$ begin raise notice 'first %', 1; raise warning 'second' using hint = 'a hint'; end $$]]))
  local notices = db:notices()
  T.eq(#notices, 2)
  T.eq(notices[1], { severity = "NOTICE", sqlstate = "00000", message = "first 1" })
  T.eq(notices[2], { severity = "WARNING", sqlstate = "01000", message = "second", hint = "a hint" })
  T.eq(db:notices(), {})
end)

T.test("quote_ident and quote_literal survive a trip through the server", function()
  local db <close> = connect()
  local tricky = { "plain", "it's", "back\\slash", "both ' and \\", "ünï", 'dou"ble' }
  for _, s in ipairs(tricky) do
    T.eq(one(db, "select " .. pg.quote_literal(s) .. " as v").v, s)
    T.eq(one(db, "select " .. db:quote_literal(s) .. " as v").v, s)
    local res = assert(db:query("select 1 as " .. pg.quote_ident(s)))
    T.eq(res.fields[1].name, s)
  end
  T.eq(pg.quote_ident("Mixed Case"), '"Mixed Case"')
  T.eq(pg.quote_literal("it's"), "'it''s'")
end)

T.test("COPY is refused cleanly and the connection stays usable", function()
  local db <close> = connect()
  local res, err = db:exec("copy (select generate_series(1, 10)) to stdout")
  T.eq(res, nil)
  T.eq(err.code, "unsupported")
  assert(db:exec("create temporary table sink (v int)"))
  res, err = db:exec("copy sink from stdin")
  T.eq(res, nil)
  T.contains(err.message, "COPY FROM STDIN is not supported")
  T.eq(one(db, "select 3 as n").n, 3)
end)

T.test("100,000 rows", function()
  local db <close> = connect()
  local started = alaris.now()
  local res = assert(db:query("select g as id, 'row ' || g as name, g % 2 = 0 as even from generate_series(1, $1) g",
    100000))
  T.eq(#res, 100000)
  T.eq(res.count, 100000)
  T.eq(res[1], { id = 1, name = "row 1", even = false })
  T.eq(res[100000], { id = 100000, name = "row 100000", even = true })
  local sum = 0
  for _, row in ipairs(res) do sum = sum + row.id end
  T.eq(sum, 100000 * 100001 // 2)
  T.ok(alaris.now() - started < 10, "read in " .. (alaris.now() - started) .. " s")
end)

T.run_all()
