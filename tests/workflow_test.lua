-- The packaging users start from: .github/workflows/grade.yml (parses, has the shape GitHub runs, names only paths
-- that exist, handles its secret without showing it) and the Dockerfile (named stages, COPY sources that exist and
-- reach the build context, runtime packages exactly those of the libraries the build links, a non-root user, and the
-- installed layout running every playbook from the image's WORKDIR). No image is built here (docs/container.md).
local T = require "testing"
local yaml = require "alaris.yaml"
local json = require "alaris.json"

local WORKFLOW = ".github/workflows/grade.yml"

local function read(path)
  return T.ok(T.read_file(path), "cannot read " .. path)
end

local function exists(path) -- a file or a folder (io.open opens both on Linux)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function lines_of(command)
  local out, err, code = T.run(command)
  T.eq(code, 0, command .. ": " .. err)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

---------------------------------------------------------------------------------------------------------------------
-- The Dockerfile, read as Docker reads it: continuation lines joined, comment lines dropped (inside a continued
-- instruction too), one {keyword, args} per instruction, grouped into stages.

local function instructions(text)
  local list, pending = {}, nil
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if not line:match("^%s*#") and (pending or line:match("%S")) then
      local body = line:match("^(.-)\\%s*$")
      pending = (pending and (pending .. " ") or "") .. (body or line)
      if not body then
        local keyword, args = pending:match("^%s*(%S+)%s*(.-)%s*$")
        list[#list + 1] = { keyword = keyword:upper(), args = args }
        pending = nil
      end
    end
  end
  return list
end

local function words(s)
  local list = {}
  for w in s:gmatch("%S+") do list[#list + 1] = w end
  return list
end

-- COPY [--from=S] [--chown=..] SRC... DEST (or the JSON array form).
local function parse_copy(args)
  local copy = { sources = {} }
  local parts = args:sub(1, 1) == "[" and assert(json.decode(args)) or words(args)
  while parts[1] and parts[1]:match("^%-%-") do
    local flag = table.remove(parts, 1)
    copy.from = flag:match("^%-%-from=(.+)$") or copy.from
  end
  copy.dest = table.remove(parts)
  copy.sources = parts
  return copy
end

-- The packages of every `apt-get install` in a RUN: the words after it up to the next && or ;, options left out.
local function apt_packages(run)
  local packages = {}
  for list in (run .. " &&"):gmatch("apt%-get install(.-)&&") do
    for w in list:gmatch("[^%s;]+") do
      if not w:match("^%-") then packages[#packages + 1] = w end
    end
  end
  return packages
end

-- {stages = {{name, image, index, workdir, copies, runs, user, env, entrypoint}}, by_name}; WORKDIR resolved.
local function dockerfile()
  local df = { stages = {}, by_name = {} }
  local stage
  for _, ins in ipairs(instructions(read("Dockerfile"))) do
    if ins.keyword == "FROM" then
      local image, name = ins.args:match("^(%S+)%s+[Aa][Ss]%s+(%S+)$")
      stage = { image = image or ins.args, name = name, index = #df.stages + 1, workdir = "/", workdirs = {},
        copies = {}, runs = {}, env = {} }
      df.stages[#df.stages + 1] = stage
      if name then df.by_name[name] = stage end
    elseif ins.keyword == "WORKDIR" then
      stage.workdir = ins.args:sub(1, 1) == "/" and ins.args or (stage.workdir:gsub("/$", "") .. "/" .. ins.args)
      stage.workdirs[#stage.workdirs + 1] = stage.workdir
    elseif ins.keyword == "COPY" or ins.keyword == "ADD" then
      local copy = parse_copy(ins.args)
      copy.keyword, copy.workdir = ins.keyword, stage.workdir
      stage.copies[#stage.copies + 1] = copy
    elseif ins.keyword == "RUN" then
      stage.runs[#stage.runs + 1] = ins.args
    elseif ins.keyword == "USER" then
      stage.user = ins.args
    elseif ins.keyword == "ENV" then
      local k, v = ins.args:match("^([%w_]+)=(%S+)$")
      stage.env[T.ok(k, "ENV in KEY=VALUE form: " .. ins.args)] = v
    elseif ins.keyword == "ENTRYPOINT" then
      stage.entrypoint = T.ok(json.decode(ins.args), "ENTRYPOINT in exec (JSON) form: " .. ins.args)
    end
  end
  df.final = df.stages[#df.stages]
  return df
end

-- An absolute path in the image from a COPY destination (relative ones are under the WORKDIR of that moment).
local function in_image(copy)
  if copy.dest:sub(1, 1) == "/" then return copy.dest end
  return (copy.workdir:gsub("/$", "")) .. "/" .. copy.dest:gsub("^%./", "")
end

local function trim_slashes(path)
  return (path:gsub("^%./", ""):gsub("/+$", ""))
end

-- Where a stage puts files: its WORKDIRs, its COPY destinations, and the --prefix of a `cmake --install`.
local function produced_paths(stage)
  local paths = {}
  for _, w in ipairs(stage.workdirs) do paths[#paths + 1] = w end
  for _, c in ipairs(stage.copies) do paths[#paths + 1] = in_image(c) end
  for _, run in ipairs(stage.runs) do
    for prefix in run:gmatch("cmake %-%-install .-%-%-prefix[ =](%S+)") do paths[#paths + 1] = prefix end
  end
  return paths
end

local function under(path, dir)
  path, dir = trim_slashes(path), trim_slashes(dir)
  return path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

---------------------------------------------------------------------------------------------------------------------
-- .dockerignore: the last matching line wins; a line matches a path or any folder above it; `*` and `?` stay within
-- a path segment, `**` spans segments (Docker's rules).

local function glob_pattern(glob)
  local out, i = {}, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if glob:sub(i, i + 1) == "**" then
      out[#out + 1], i = ".*", i + 2
    else
      out[#out + 1] = (c == "*" and "[^/]*") or (c == "?" and "[^/]") or c:gsub("%W", "%%%0")
      i = i + 1
    end
  end
  return "^" .. table.concat(out) .. "$"
end

local function dockerignore(text)
  local rules = {}
  for line in text:gmatch("[^\n]+") do
    line = line:match("^%s*(.-)%s*$")
    if line ~= "" and not line:match("^#") then
      local negate = line:sub(1, 1) == "!"
      local glob = trim_slashes((negate and line:sub(2) or line):gsub("^/+", ""))
      rules[#rules + 1] = { keep = negate, pattern = glob_pattern(glob) }
    end
  end
  return function(path) -- true when the build context holds path
    local keep, prefix = true, nil
    local candidates = {}
    for segment in path:gmatch("[^/]+") do
      prefix = prefix and (prefix .. "/" .. segment) or segment
      candidates[#candidates + 1] = prefix
    end
    for _, rule in ipairs(rules) do
      for _, candidate in ipairs(candidates) do
        if candidate:match(rule.pattern) then keep = rule.keep; break end
      end
    end
    return keep
  end
end

---------------------------------------------------------------------------------------------------------------------
-- What the build links: the libraries alaris-run and lib/alaris/*.so need directly (readelf), where the loader finds
-- them (ldd), and the Debian packages that own those files (dpkg -S).

local BUILD_DIR = T.alaris_run:match("^(.*)/[^/]+$") or "."

local function built_files()
  local files = { T.alaris_run }
  for _, so in ipairs(lines_of("ls " .. T.sh_quote(BUILD_DIR) .. "/lib/alaris/*.so")) do files[#files + 1] = so end
  T.ok(#files > 5, "the bindings are built as " .. BUILD_DIR .. "/lib/alaris/*.so")
  return files
end

-- A sanitized build also links the sanitizers' runtimes, which no release build (nor the image) has.
local function is_sanitizer_runtime(soname)
  return soname:match("^libasan%.so") or soname:match("^libubsan%.so")
end

-- soname -> the path the loader resolves it to, for every library a built file needs directly. One ldd and one
-- readelf for all the files: a process costs a good part of a second on a loaded machine.
local function linked_libraries()
  local quoted = {}
  for _, file in ipairs(built_files()) do quoted[#quoted + 1] = T.sh_quote(file) end
  local files = table.concat(quoted, " ")
  local resolved, found = {}, {}
  for _, line in ipairs(lines_of("ldd " .. files)) do
    local soname, path = line:match("^%s*(%S+) => (/%S+)")
    if soname then resolved[soname] = path end
  end
  for _, line in ipairs(lines_of("readelf -d " .. files)) do
    local needed = line:match("%(NEEDED%).-%[(.-)%]")
    if needed and not is_sanitizer_runtime(needed) then
      found[needed] = T.ok(resolved[needed], "the build needs " .. needed .. ", which ldd does not resolve")
    end
  end
  return found
end

-- The packages owning the files (merged /usr: dpkg knows some under /usr/lib, others under /lib).
local function owning_packages(paths)
  local quoted, candidates, owner_of = {}, {}, {}
  for _, path in ipairs(paths) do quoted[#quoted + 1] = T.sh_quote(path) end
  local reals = lines_of("realpath " .. table.concat(quoted, " "))
  for i, path in ipairs(paths) do
    for _, p in ipairs({ path, reals[i], "/usr" .. path, "/usr" .. reals[i] }) do
      candidates[#candidates + 1] = T.sh_quote(p)
    end
  end
  local out = T.run("dpkg -S " .. table.concat(candidates, " "))
  for line in out:gmatch("[^\n]+") do
    local package, file = line:match("^([^:,]+)[^ ]*: (.+)$")
    if package then owner_of[file] = package end
  end
  local packages = {}
  for i, path in ipairs(paths) do
    local real = reals[i]
    local package = owner_of[path] or owner_of[real] or owner_of["/usr" .. path] or owner_of["/usr" .. real]
    packages[T.ok(package, "no Debian package owns " .. path)] = true
  end
  return packages
end

local function host_codename()
  local text = T.read_file("/etc/os-release") or ""
  return text:match("\nVERSION_CODENAME=(%S+)") or text:match("^VERSION_CODENAME=(%S+)")
end

---------------------------------------------------------------------------------------------------------------------

T.test("the Dockerfile has named stages, a runtime stage last, on the same Debian release", function()
  local df = dockerfile()
  T.ok(#df.stages >= 2, "a multi-stage build")
  local seen = {}
  for _, stage in ipairs(df.stages) do
    T.ok(stage.name, "stage " .. stage.index .. " (FROM " .. stage.image .. ") is named with AS")
    T.ok(not seen[stage.name], "stage name " .. stage.name .. " used once")
    seen[stage.name] = true
    T.ok(stage.image:match("^debian:bookworm"), "stage " .. stage.name .. " is Debian bookworm: " .. stage.image)
  end
  T.eq(df.final.name, "runtime", "the image is the last stage")
  T.ok(df.by_name.build, "a build stage")
end)

T.test("the image runs alaris-run as a non-root user, found through its PATH", function()
  local runtime = dockerfile().final
  local user = T.ok(runtime.user, "the runtime stage sets USER")
  local name, group = user:match("^([^:]+):?(.*)$")
  T.ok(name ~= "root" and name ~= "0", "USER is not root: " .. user)
  T.ok(group ~= "root" and group ~= "0", "USER's group is not root: " .. user)
  T.eq(runtime.entrypoint, { "alaris-run" }, "ENTRYPOINT")
  T.ok(runtime.env.PATH, "the runtime stage sets the PATH alaris-run is found on")
end)

T.test("every COPY source is in the repository and let through .dockerignore, or made by an earlier stage", function()
  local df = dockerfile()
  local kept = dockerignore(read(".dockerignore"))
  local checked = 0
  for _, stage in ipairs(df.stages) do
    for _, copy in ipairs(stage.copies) do
      T.eq(copy.keyword, "COPY", "COPY, not ADD (no URLs or archives unpacked)")
      for _, source in ipairs(copy.sources) do
        checked = checked + 1
        if copy.from then
          local from = T.ok(df.by_name[copy.from], "COPY --from=" .. copy.from .. " names a stage")
          T.ok(from.index < stage.index, "stage " .. copy.from .. " comes before " .. stage.name)
          local made = false
          for _, p in ipairs(produced_paths(from)) do made = made or under(source, p) end
          T.ok(made, source .. " is made by stage " .. copy.from)
        else
          local path = trim_slashes(source)
          T.ok(exists(path), "COPY source " .. source .. " exists in the repository")
          for _, file in ipairs(lines_of("find " .. T.sh_quote(path) .. " -type f")) do
            T.ok(kept(file), file .. " (under COPY " .. source .. ") is let through .dockerignore")
          end
        end
      end
    end
  end
  T.ok(checked >= 8, "the build copies its sources and the runtime copies the build")
  for _, left_out in ipairs({ "build/alaris-run", ".git/HEAD", "lab/package.json", "app/node_modules/x", ".lab/env",
    ".alaris/journal/x.jsonl", "build-asan/CMakeCache.txt" }) do
    T.ok(not kept(left_out), left_out .. " stays out of the build context")
  end
end)

T.test("the build stage installs only packages scripts/install-deps names, and builds and installs", function()
  local df = dockerfile()
  local deps = set_of(words(read("scripts/install-deps"):match('packages="(.-)"')))
  local build = df.by_name.build
  local packages = {}
  for _, run in ipairs(build.runs) do
    for _, p in ipairs(apt_packages(run)) do packages[#packages + 1] = p end
  end
  T.ok(#packages >= 10, "the build stage installs its compilers and -dev packages")
  for _, p in ipairs(packages) do T.ok(deps[p], p .. " is one of scripts/install-deps' packages") end
  local joined = table.concat(build.runs, "\n")
  T.contains(joined, "cmake --build", "the build stage builds")
  T.ok(joined:match("cmake %-%-install build %-%-prefix /opt/alaris"), "and installs under /opt/alaris")
end)

T.test("the runtime stage installs exactly the packages of the libraries the build links, and the CA bundle", function()
  local df = dockerfile()
  local listed = {}
  for _, run in ipairs(df.final.runs) do
    for _, p in ipairs(apt_packages(run)) do listed[p] = true end
  end
  for p in pairs(listed) do T.ok(not p:match("%-dev$"), "no -dev package at runtime: " .. p) end
  local libraries = linked_libraries()
  for _, soname in ipairs({ "liblua5.4.so.0", "libcurl.so.4", "libpq.so.5", "libyaml-0.so.2", "libssl.so.3" }) do
    T.ok(libraries[soname], "the build links " .. soname)
  end
  local codename = df.final.image:match("^debian:(%a+)")
  if host_codename() ~= codename or select(3, T.run("command -v dpkg")) ~= 0 then
    io.stdout:write("     note: this host is not Debian " .. codename .. ": its package names are not compared\n")
    return
  end
  local paths = {}
  for _, path in pairs(libraries) do paths[#paths + 1] = path end
  local expected = owning_packages(paths)
  expected["ca-certificates"] = true -- not a library: the bundle libcurl and OpenSSL verify HTTPS peers against
  for p in pairs(expected) do T.ok(listed[p], "the runtime stage installs " .. p .. ", which the build needs") end
  for p in pairs(listed) do T.ok(expected[p], "the runtime stage installs " .. p .. ", which no linked library needs") end
end)

-- The runtime stage's layout, rebuilt in a folder: the build installed under the stage's --prefix, the runtime's
-- COPY and WORKDIR and PATH followed; then every playbook describes itself, run from the WORKDIR with no environment.
T.test("in the image's layout, every playbook loads from the WORKDIR with nothing but the image's PATH", function()
  local df = dockerfile()
  local root = T.tmpdir() .. "/image"
  local prefix = T.ok(table.concat(df.by_name.build.runs, "\n"):match("cmake %-%-install .-%-%-prefix[ =](%S+)"),
    "the build stage installs with cmake --install --prefix")
  local _, err, code = T.run("cmake --install " .. T.sh_quote(BUILD_DIR) .. " --prefix " .. T.sh_quote(root .. prefix))
  T.eq(code, 0, err)
  for _, copy in ipairs(df.final.copies) do
    for _, source in ipairs(copy.sources) do
      local from = copy.from and (root .. source) or source
      local target = root .. in_image(copy)
      if trim_slashes(from) ~= trim_slashes(target) then
        _, err, code = T.run("mkdir -p " .. T.sh_quote(target) .. " && cp -R " .. T.sh_quote(from) .. " " ..
          T.sh_quote(target))
        T.eq(code, 0, err)
      end
    end
  end
  local binary
  for dir in df.final.env.PATH:gmatch("[^:]+") do
    local candidate = root .. dir .. "/" .. df.final.entrypoint[1]
    binary = binary or (exists(candidate) and candidate)
  end
  T.ok(binary, "ENTRYPOINT " .. df.final.entrypoint[1] .. " is on the image's PATH")
  local workdir = root .. df.final.workdir
  local playbooks = lines_of("cd " .. T.sh_quote(workdir) .. " && ls playbooks/*.lua")
  T.ok(#playbooks >= 6, "the playbooks are under the WORKDIR's playbooks/")
  for _, playbook in ipairs(playbooks) do
    local out, err, code = T.run("cd " .. T.sh_quote(workdir) .. " && env -i PATH=/usr/bin:/bin " ..
      T.sh_quote(binary) .. " " .. playbook .. " --help")
    T.eq(code, 0, playbook .. " --help: " .. err)
    T.contains(out, "usage: alaris-run ", playbook .. " --help")
    T.contains(out, playbook, playbook .. " --help")
  end
  local out = T.run("cd " .. T.sh_quote(workdir) .. " && env -i " .. T.sh_quote(binary) ..
    " playbooks/operators.lua --help")
  T.contains(out, "(default: " .. workdir .. "/deploy)", "the vendored manifests are found in the image")
end)

---------------------------------------------------------------------------------------------------------------------
-- The workflow.

local function workflow()
  return T.ok(yaml.decode(read(WORKFLOW)), WORKFLOW .. " parses as YAML")
end

local function all_steps(wf)
  local steps = {}
  for _, job in pairs(wf.jobs) do
    for _, step in ipairs(job.steps) do steps[#steps + 1] = step end
  end
  return steps
end

local function step_running(wf, needle)
  for _, step in ipairs(all_steps(wf)) do
    if step.run and step.run:find(needle, 1, true) then return step end
  end
  error("no step runs " .. needle, 2)
end

T.test("the workflow runs on a schedule and by hand, and every job has steps GitHub can run", function()
  local wf = workflow()
  local on = T.ok(wf.on, "on:")
  T.ok(type(on.schedule) == "table" and #on.schedule >= 1, "on.schedule is a list")
  for _, entry in ipairs(on.schedule) do
    T.eq(#words(T.ok(entry.cron, "each schedule has a cron")), 5, "cron has five fields: " .. tostring(entry.cron))
  end
  T.ok(on.workflow_dispatch ~= nil, "on.workflow_dispatch")
  local jobs = 0
  for name, job in pairs(T.ok(wf.jobs, "jobs:")) do
    jobs = jobs + 1
    T.ok(job["runs-on"], name .. " has runs-on")
    T.ok(type(job.steps) == "table" and #job.steps > 0, name .. " has steps")
    for i, step in ipairs(job.steps) do
      T.ok((step.uses == nil) ~= (step.run == nil), name .. " step " .. i .. " has one of uses or run")
      if step.uses then T.ok(step.uses:match("^[%w._-]+/[%w._/-]+@v%d+$"), "a released action: " .. step.uses) end
    end
  end
  T.ok(jobs >= 1, "at least one job")
end)

T.test("the workflow grades with --junit into a folder whose report is uploaded and published, always", function()
  local wf = workflow()
  local grade = step_running(wf, "playbooks/grade.lua")
  local run = grade.run
  T.ok(run:match("%-%-junit%s"), "grade writes a JUnit report")
  T.contains(run, "--env GITHUB_ACTIONS", "grade sees GITHUB_ACTIONS and writes the annotations itself")
  local report_in_container = run:match("%-%-junit%s+(%S+)")
  local host, container = run:match('%-%-volume%s+"%$PWD/([^:"]+):(/[^:"]+)"')
  T.ok(host and under(report_in_container, container), "the report is written into a folder shared with the runner")
  local report = host .. report_in_container:sub(#container + 1)
  local uploaded, published = false, false
  for _, step in ipairs(all_steps(wf)) do
    if step.uses and step.with and step.with.path == report then
      T.eq(step["if"], "always()", step.uses .. " runs even when grade failed")
      uploaded = uploaded or step.uses:match("^actions/upload%-artifact@") ~= nil
      published = published or step.with.reporter == "java-junit"
    end
  end
  T.ok(uploaded, report .. " is uploaded as an artifact")
  T.ok(published, report .. " is published as a test report")
  local image = T.ok(step_running(wf, "docker build").run:match("docker build %-%-tag (%S+) %.%s*$"),
    "the image is built from the repository's root")
  T.contains(run, " " .. image .. " playbooks/grade.lua ", "grade runs in the image just built")
end)

T.test("every repository path the workflow names exists", function()
  local text = read(WORKFLOW)
  local top = set_of(lines_of("ls -A"))
  local named = {}
  for token in text:gmatch("[%w._/-]+") do
    local first = token:match("^([^/]+)/")
    if first and top[first] and token:match("%.%w+$") then named[token] = true end
  end
  T.ok(named["playbooks/grade.lua"], "the workflow runs playbooks/grade.lua")
  T.ok(exists("Dockerfile"), "the image is built from the Dockerfile")
  for path in pairs(named) do T.ok(exists(path), WORKFLOW .. " names " .. path .. ", which exists") end
end)

-- Every place a value of the workflow holds, as "jobs.grade.steps.2.env.X" = value.
local function leaves(value, path, out)
  out = out or {}
  if type(value) == "table" then
    for k, v in pairs(value) do leaves(v, (path and (path .. ".") or "") .. tostring(k), out) end
  elseif type(value) == "string" then
    out[path] = value
  end
  return out
end

T.test("secrets reach steps only as ${{ secrets.X }} in env:, never inline in a script or printed", function()
  local text = read(WORKFLOW):gsub("\n%s*#[^\n]*", "\n") -- comments may name secrets; only the rest uses them
  local uses = 0
  for before, ref in text:gmatch("(.?.?.?.?)(secrets[^\n]*)") do
    if before:sub(-1) ~= "/" then -- /run/secrets/ is a path in the container, not the secrets context
      T.ok(before == "${{ " and ref:match("^secrets%.[%w_]+ }}"), "a secret is referenced as ${{ secrets.NAME }}: " ..
        before .. ref)
      uses = uses + 1
    end
  end
  T.ok(uses >= 1, "the kubeconfig comes from a repository secret")
  local wf = workflow()
  for path, value in pairs(leaves(wf)) do
    if value:find("${{", 1, true) then
      T.ok(not path:match("%.run$"), path .. " puts no ${{ }} expression into a script (env: does)")
    end
    if value:find("secrets.", 1, true) then
      T.ok(path:match("%.env%.[%w_]+$"), path .. " hands a secret to a step through env:")
    end
  end
  T.not_contains(text, "set -x", "no script traces its commands")
  T.not_contains(text, "ACTIONS_STEP_DEBUG", "no step debug logging")
  for _, step in ipairs(all_steps(wf)) do
    for var, value in pairs(step.env or {}) do
      if value:find("secrets.", 1, true) then
        for line in step.run:gmatch("[^\n]+") do
          if line:find("$" .. var, 1, true) then
            local tested = line:match('^%s*if %[ %-[zn] "%$' .. var .. '" %]')
            local written = line:match("^%s*printf '%%s\\n' \"%$" .. var .. "\" > \"[^\"]+\"%s*$")
            T.ok(tested or written, "$" .. var .. " is only tested or written to a file by printf: " .. line)
          end
        end
        if step.run:match("docker run") and not step.run:find("$" .. var, 1, true) then
          T.ok(step.run:match("%-%-env " .. var .. "%s"), var .. " reaches the container as --env " .. var ..
            ", its value in no command line")
        end
      end
    end
  end
end)

-- The file grade's container reads its kubeconfig from, as the runner names it ("$RUNNER_TEMP/kubeconfig").
local function kubeconfig_file(wf)
  local run = step_running(wf, "playbooks/grade.lua").run
  local container_path = T.ok(run:match("%-%-env KUBECONFIG=(%S+)"), "grade is given KUBECONFIG")
  return T.ok(run:match('%-%-volume "([^":]+):' .. container_path:gsub("%p", "%%%0") .. ':ro"'),
    "the kubeconfig is mounted read-only at " .. container_path)
end

-- The step that writes the kubeconfig grade reads, run as GitHub runs it (bash -e), with a stand-in secret.
local function run_kubeconfig_step(secret)
  local wf = workflow()
  local step = step_running(wf, '> "' .. kubeconfig_file(wf) .. '"')
  local var
  for k, v in pairs(step.env or {}) do
    if v:find("secrets.", 1, true) then var = k end
  end
  T.ok(var, "the step writing the kubeconfig is handed a secret")
  local dir = T.tmpdir()
  local script = T.write_file(dir .. "/step.sh", step.run)
  local out, err, code = T.run(string.format(
    "cd %s && env -i PATH=/usr/bin:/bin RUNNER_TEMP=%s %s=%s bash --noprofile --norc -eo pipefail %s",
    T.sh_quote(dir), T.sh_quote(dir), var, T.sh_quote(secret), T.sh_quote(script)))
  return out, err, code, dir .. "/kubeconfig"
end

T.test("the kubeconfig step writes the secret to a 0600 file and prints nothing of it", function()
  local token = "token-" .. string.format("%x", os.time()) .. "-never-shown"
  local secret = "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: " .. token
  local out, err, code, file = run_kubeconfig_step(secret)
  T.eq(code, 0, err)
  T.not_contains(out .. err, token)
  T.eq(T.read_file(file), secret .. "\n", "the file holds the kubeconfig")
  T.eq(lines_of("stat -c %a " .. T.sh_quote(file))[1], "600", "mode of the kubeconfig")
  local wf = workflow()
  local removal = step_running(wf, 'rm -f "' .. kubeconfig_file(wf) .. '"')
  T.eq(removal["if"], "always()", "the kubeconfig is removed whatever happened")
end)

T.test("an unset kubeconfig secret stops the job with one clear line and writes no file", function()
  local out, err, code, file = run_kubeconfig_step("")
  T.eq(code, 2)
  T.eq(out .. err, "::error::the ALARIS_KUBECONFIG secret is not set\n")
  T.eq(T.read_file(file), nil, "no kubeconfig file")
end)

T.run_all()
