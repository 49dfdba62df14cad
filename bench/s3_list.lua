-- Benchmark: list a prefix of 100,000 objects with alaris.s3 and with `s3cmd ls -r` in the same run, and print
-- the wall time, CPU time and peak memory (max RSS, from /usr/bin/time -v) of each and their ratios. Run by hand,
-- not by `make test`, against the lab or any S3 endpoint configured by SPACES_* variables:
--     lab/bin/lab up --dir DIR && . DIR/env
--     build/alaris-run bench/s3_list.lua [COUNT]        (COUNT defaults to 100000; bucket: $BENCH_BUCKET)
-- The objects are created once, concurrently, under list-COUNT/ and reused by later runs (a marker object says
-- they are complete). s3cmd gets the secret through a private (0600) config file, never on its command line.
-- It measures listing only: no puts or gets are timed.
local alaris = require "alaris"
local s3 = require "alaris.s3"
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local support = require "support"
local fail, must, sh_quote, read_file, write_file = support.fail, support.must, support.sh_quote,
  support.read_file, support.write_file
local alaris_run_path = support.alaris_run_path

local CREATE_TASKS = 16

-- Child mode: `s3_list.lua list BUCKET PREFIX` lists and prints the number of objects (timed by the parent).
local function list_only(bucket, prefix)
  local client = must(s3.client())
  local count = 0
  for _ in client:list(bucket, { prefix = prefix }) do count = count + 1 end
  io.stdout:write(count, "\n")
end

local function key_name(prefix, i)
  return string.format("%s%06d", prefix, i)
end

-- Puts COUNT small objects with CREATE_TASKS concurrent tasks, unless a previous run already did.
local function ensure_objects(client, bucket, prefix, count)
  if not client:head_bucket(bucket) then must(client:create_bucket(bucket)) end
  local marker = "markers/" .. prefix:gsub("/$", "")
  if client:head(bucket, marker) then return false end
  io.stdout:write(string.format("creating %d objects under s3://%s/%s (once) ...\n", count, bucket, prefix))
  io.stdout:flush()
  local started, next_index, tasks = alaris.now(), 1, {}
  for _ = 1, CREATE_TASKS do
    tasks[#tasks + 1] = alaris.spawn(function()
      while next_index <= count do
        local i = next_index
        next_index = next_index + 1
        must(client:put(bucket, key_name(prefix, i), tostring(i)))
        if i % 10000 == 0 then
          io.stdout:write(string.format("  %d objects, %.0f s\n", i, alaris.now() - started))
          io.stdout:flush()
        end
      end
    end)
  end
  for _, t in ipairs(tasks) do
    local ok, err = alaris.wait(t)
    if not ok then fail("creating objects: %s", tostring(err)) end
  end
  must(client:put(bucket, marker, tostring(count)))
  io.stdout:write(string.format("created in %.1f s\n", alaris.now() - started))
  return true
end

local function s3cmd_config(dir, client)
  local scheme, hostport = os.getenv("SPACES_ENDPOINT"):match("^(%a+)://([^/]+)")
  local path = dir .. "/s3cmd.cfg"
  assert(io.open(path, "w")):close()
  os.execute("chmod 600 " .. sh_quote(path))
  local f = assert(io.open(path, "w"))
  f:write(table.concat({
    "[default]", "access_key = " .. client.access_key, "secret_key = " .. client.secret_key,
    "host_base = " .. hostport, "host_bucket = " .. hostport,
    "use_https = " .. (scheme == "https" and "True" or "False"),
    "signature_v2 = False", "bucket_location = " .. client.region, "",
  }, "\n"))
  f:close()
  return path
end

-- Runs a command under /usr/bin/time -v; returns {seconds, peak_kib, stdout}.
local function measure(dir, name, command)
  local out, stats = dir .. "/" .. name .. ".out", dir .. "/" .. name .. ".time"
  local ok = os.execute("/usr/bin/time -v -o " .. sh_quote(stats) .. " " .. command .. " >" .. sh_quote(out))
  if not ok then fail("%s failed (see %s)", name, stats) end
  local report = read_file(stats) or ""
  local elapsed = report:match("Elapsed %(wall clock%) time %b(): ([%d:.]+)")
  local seconds = 0
  for part in (elapsed or ""):gmatch("[^:]+") do seconds = seconds * 60 + tonumber(part) end
  local peak = tonumber(report:match("Maximum resident set size %(kbytes%): (%d+)"))
  local cpu = tonumber(report:match("User time %(seconds%): ([%d.]+)") or "0")
    + tonumber(report:match("System time %(seconds%): ([%d.]+)") or "0")
  if not elapsed or not peak then fail("cannot read /usr/bin/time output of %s", name) end
  return { seconds = seconds, cpu = cpu, peak_kib = peak, stdout = read_file(out) }
end

local function count_lines(text)
  local n = 0
  for _ in text:gmatch("[^\n]+") do n = n + 1 end
  return n
end

local function main(count)
  local client = must(s3.client())
  local bucket = os.getenv("BENCH_BUCKET") or "alaris-bench"
  local prefix = string.format("list-%d/", count)
  ensure_objects(client, bucket, prefix, count)

  local dir = io.popen("mktemp -d"):read("l")
  local cfg = s3cmd_config(dir, client)
  local a = measure(dir, "alaris", sh_quote(alaris_run_path()) .. " " .. sh_quote(arg[0]) .. " list " ..
    sh_quote(bucket) .. " " .. sh_quote(prefix))
  local s = measure(dir, "s3cmd",
    "s3cmd -c " .. sh_quote(cfg) .. " ls -r " .. sh_quote("s3://" .. bucket .. "/" .. prefix))
  os.execute("rm -rf " .. sh_quote(dir))

  local a_count, s_count = tonumber(a.stdout:match("%d+")), count_lines(s.stdout)
  io.stdout:write(string.format("listing s3://%s/%s (%d objects)\n", bucket, prefix, count))
  io.stdout:write(string.format("  %-8s %10s %10s %12s %14s\n", "client", "objects", "seconds", "cpu seconds",
    "peak RSS MiB"))
  for _, row in ipairs({ { "alaris", a_count, a }, { "s3cmd", s_count, s } }) do
    local m = row[3]
    io.stdout:write(string.format("  %-8s %10d %10.2f %12.2f %14.1f\n", row[1], row[2], m.seconds, m.cpu,
      m.peak_kib / 1024))
  end
  io.stdout:write(string.format("  ratios s3cmd/alaris: time %.2f, cpu %.2f, peak memory %.2f\n",
    s.seconds / math.max(a.seconds, 0.001), s.cpu / math.max(a.cpu, 0.001), s.peak_kib / a.peak_kib))
  io.stdout:write("  (the wall time of both includes the server's; against the lab's s3rver it dominates)\n")
  if a_count ~= count or s_count ~= count then fail("expected %d objects from both clients", count) end
end

if arg[1] == "list" then
  list_only(arg[2], arg[3])
else
  local count = tonumber(arg[1] or "100000")
  if not count or count < 1 then fail("usage: alaris-run bench/s3_list.lua [COUNT]") end
  main(math.floor(count))
end
