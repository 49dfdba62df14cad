-- alaris.operators: the cluster-wide objects the platform runs on, as Lua tables. The operators come from the
-- vendored release manifests in deploy/ (CloudNativePG 1.28.4, plugin-barman-cloud 0.14.0 with its release images
-- pinned as its release build pins them, cert-manager's CRDs), parsed, never edited as text; the ops tooling
-- (namespace `ops`, ServiceAccount `ops-reader`, a read-only ClusterRole, its binding, the `psql-client` Deployment)
-- is built here; and the proof that the ops role is read-only, by SubjectAccessReviews. Applying and waiting belong
-- to alaris.platform and the playbooks.
local alaris = require "alaris"
local crypto = require "alaris.crypto"
local http = require "alaris.http"
local playbook = require "alaris.playbook"
local yaml = require "alaris.yaml"

local operators = {}

operators.CNPG_VERSION = "1.28.4"
operators.BARMAN_VERSION = "0.14.0"
operators.CERT_MANAGER_VERSION = "1.21.1"
operators.NAMESPACE = "cnpg-system"
operators.PLUGIN_IMAGE = "ghcr.io/cloudnative-pg/plugin-barman-cloud:v" .. operators.BARMAN_VERSION
operators.SIDECAR_IMAGE = "ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar:v" .. operators.BARMAN_VERSION
operators.OPS_NAMESPACE = "ops"
operators.OPS_ACCOUNT = "ops-reader"
operators.OPS_ROLE = "alaris-ops-reader"
operators.PSQL_IMAGE = "postgres:15"

-- The vendored manifests: deploy/ beside stdlib/ in a checkout; PREFIX/share/alaris/deploy beside the Lua library
-- (PREFIX/share/alaris/lua) where `make install` put them.
function operators.default_deploy_dir()
  local source = debug.getinfo(1, "S").source
  local installed = source:match("^@(.*/share/alaris/)lua/alaris/operators%.lua$")
  if installed then return installed .. "deploy" end
  return (source:match("^@(.*)stdlib/alaris/operators%.lua$") or "") .. "deploy"
end

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then error(alaris.error("not_found", "cannot read " .. tostring(err)), 0) end
  local text = f:read("a")
  f:close()
  return text
end

-- Every object of a multi-document YAML text (empty documents skipped).
function operators.parse(text, origin)
  local docs, err = yaml.decode_all(text)
  if not docs then error(alaris.error("invalid", string.format("%s: %s", origin, tostring(err))), 0) end
  local objects = {}
  for _, doc in ipairs(docs) do
    if type(doc) == "table" and doc.kind then objects[#objects + 1] = doc end
  end
  return objects
end

local function bad_input(fmt, ...)
  error(alaris.error("invalid", string.format(fmt, ...), { usage = true }), 0)
end

-- The text behind a manifest source the user gives: an http(s) URL's answer or a file's bytes.
local function fetch(var, source)
  if source:match("^https?://") then
    local resp, err = http.request { method = "GET", url = source }
    if not resp then bad_input("%s: %s", var, tostring(err)) end
    if resp.status ~= 200 then bad_input("%s %s: HTTP %d", var, source, resp.status) end
    return resp.body
  end
  local f, err = io.open(source, "rb")
  if not f then bad_input("%s: cannot read %s", var, err) end
  local text, rerr = f:read("a") -- a directory opens, then fails to read
  f:close()
  if not text then bad_input("%s: cannot read %s: %s", var, source, rerr) end
  return text
end

-- The objects of an install manifest the user names (var=FILE-or-URL). Bad input, one line (exit 2): a file that
-- cannot be read or is a directory, a URL that does not answer 200, text that is not YAML, a document that is not
-- a Kubernetes object (apiVersion, kind, metadata.name), or no object at all.
function operators.user_manifest(var, source)
  local docs, err = yaml.decode_all(fetch(var, source))
  if not docs then bad_input("%s %s is not YAML: %s", var, source, tostring(err):match("[^\n]*")) end
  local objects = {}
  for i, doc in ipairs(docs) do
    if doc ~= nil and doc ~= yaml.null then
      local meta = type(doc) == "table" and doc.metadata
      if not (type(doc) == "table" and type(doc.apiVersion) == "string" and type(doc.kind) == "string"
          and type(meta) == "table" and type(meta.name) == "string") then
        bad_input("%s %s: document %d is not a Kubernetes object (apiVersion, kind, metadata.name)", var, source, i)
      end
      objects[#objects + 1] = doc
    end
  end
  if #objects == 0 then bad_input("%s %s holds no Kubernetes object", var, source) end
  return objects
end

local function load(dir, file)
  local path = dir .. "/" .. file
  return operators.parse(read(path), path)
end

-- The six cert-manager CRDs.
function operators.cert_manager_crds(dir)
  local objects = {}
  for _, name in ipairs { "acme.cert-manager.io_challenges", "acme.cert-manager.io_orders",
    "cert-manager.io_certificaterequests", "cert-manager.io_certificates", "cert-manager.io_clusterissuers",
    "cert-manager.io_issuers" } do
    for _, obj in ipairs(load(dir, "cert-manager/crds/" .. name .. ".yaml")) do objects[#objects + 1] = obj end
  end
  return objects
end

local function find(objects, kind, name)
  for _, obj in ipairs(objects) do
    if obj.kind == kind and obj.metadata.name == name then return obj end
  end
  error(alaris.error("invalid", string.format("the vendored manifest has no %s %s", kind, name)), 0)
end

local function set_env(container, name, value)
  container.env = container.env or {}
  for _, e in ipairs(container.env) do
    if e.name == name then e.value = value; e.valueFrom = nil; return end
  end
  container.env[#container.env + 1] = { name = name, value = value }
end

-- CloudNativePG's release manifest; `postgres_image` becomes the operator's default image for Clusters that name
-- none (its POSTGRES_IMAGE_NAME setting).
function operators.cloudnative_pg(dir, postgres_image)
  local objects = load(dir, "cloudnative-pg/cnpg-" .. operators.CNPG_VERSION .. ".yaml")
  if postgres_image then
    local deployment = find(objects, "Deployment", "cnpg-controller-manager")
    set_env(deployment.spec.template.spec.containers[1], "POSTGRES_IMAGE_NAME", postgres_image)
  end
  return objects
end

-- The plugin's committed manifest with the two images its release build sets (kustomize `set image` on the
-- Deployment, `set secret` on SIDECAR_IMAGE).
function operators.barman_cloud(dir)
  local objects = load(dir, "plugin-barman-cloud/manifest.yaml")
  local deployment = find(objects, "Deployment", "barman-cloud")
  for _, container in ipairs(deployment.spec.template.spec.containers) do
    if container.image:match("plugin%-barman%-cloud%-testing") then container.image = operators.PLUGIN_IMAGE end
  end
  for _, obj in ipairs(objects) do
    if obj.kind == "Secret" and obj.data and obj.data.SIDECAR_IMAGE then
      obj.data.SIDECAR_IMAGE = crypto.base64_encode(operators.SIDECAR_IMAGE)
    end
  end
  return objects
end

-- ---- the ops tooling ----

local MANAGED = { ["app.kubernetes.io/managed-by"] = "alaris" }

local READ = { "get", "list", "watch" }
operators.WRITE_VERBS = { "create", "update", "patch", "delete", "deletecollection" }

-- What the ops role may read: everything an operator of the platform looks at, Secrets excluded (they are not
-- named, so no rule covers them), and no subresource such as pods/exec or pods/portforward.
operators.OPS_READABLE = {
  [""] = { "pods", "pods/log", "services", "endpoints", "events", "namespaces", "nodes", "configmaps",
    "persistentvolumeclaims", "persistentvolumes", "serviceaccounts", "resourcequotas", "limitranges" },
  apps = { "deployments", "replicasets", "statefulsets", "daemonsets" },
  batch = { "jobs", "cronjobs" },
  ["networking.k8s.io"] = { "networkpolicies", "ingresses" },
  ["policy"] = { "poddisruptionbudgets" },
  ["discovery.k8s.io"] = { "endpointslices" },
  ["coordination.k8s.io"] = { "leases" },
  ["postgresql.cnpg.io"] = { "clusters", "backups", "scheduledbackups", "poolers", "databases" },
  ["barmancloud.cnpg.io"] = { "objectstores" },
}

local function ops_rules()
  local groups = {}
  for group in pairs(operators.OPS_READABLE) do groups[#groups + 1] = group end
  table.sort(groups)
  local rules = {}
  for _, group in ipairs(groups) do
    rules[#rules + 1] = { apiGroups = { group }, resources = operators.OPS_READABLE[group], verbs = READ }
  end
  return rules
end

function operators.ops_objects(opts)
  opts = opts or {}
  local ns, sa = operators.OPS_NAMESPACE, operators.OPS_ACCOUNT
  local labels = { app = "psql-client" }
  return {
    { apiVersion = "v1", kind = "Namespace", metadata = { name = ns, labels = MANAGED } },
    { apiVersion = "v1", kind = "ServiceAccount", metadata = { name = sa, namespace = ns, labels = MANAGED } },
    { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole",
      metadata = { name = operators.OPS_ROLE, labels = MANAGED }, rules = ops_rules() },
    { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
      metadata = { name = operators.OPS_ROLE, labels = MANAGED },
      roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = operators.OPS_ROLE },
      subjects = { { kind = "ServiceAccount", name = sa, namespace = ns } } },
    { apiVersion = "apps/v1", kind = "Deployment",
      metadata = { name = "psql-client", namespace = ns, labels = MANAGED },
      spec = { replicas = 1, selector = { matchLabels = labels },
        template = { metadata = { labels = labels },
          spec = { serviceAccountName = sa, automountServiceAccountToken = false,
            containers = { { name = "psql", image = opts.image or operators.PSQL_IMAGE,
              command = { "sleep", "infinity" } } } } } } },
  }
end

-- ---- the proof: SubjectAccessReviews ----

local REVIEW_CONCURRENCY = 16

local function review(kc, user, attrs)
  local sar = { apiVersion = "authorization.k8s.io/v1", kind = "SubjectAccessReview",
    spec = { user = user, groups = { "system:serviceaccounts", "system:serviceaccounts:" .. operators.OPS_NAMESPACE,
      "system:authenticated" }, resourceAttributes = attrs } }
  local answer, err = kc:create(sar)
  if not answer then error(err, 0) end
  return answer.status and answer.status.allowed == true
end

local function describe(attrs)
  return string.format("%s %s%s%s", attrs.verb, attrs.group ~= "" and (attrs.group .. "/") or "", attrs.resource,
    attrs.subresource and ("/" .. attrs.subresource) or "")
end

-- The questions: every write verb on every readable resource and on Secrets, reading Secrets, pods/exec and
-- pods/portforward must be denied; get/list/watch on pods and Clusters must be allowed.
function operators.ops_questions(namespace)
  local denied, allowed = {}, {}
  local function ask(list, verb, group, resource, sub)
    list[#list + 1] = { verb = verb, group = group, resource = resource, subresource = sub, namespace = namespace }
  end
  for group, resources in pairs(operators.OPS_READABLE) do
    for _, resource in ipairs(resources) do
      local name, sub = resource:match("^([^/]+)/?(.*)$")
      for _, verb in ipairs(operators.WRITE_VERBS) do ask(denied, verb, group, name, sub ~= "" and sub or nil) end
    end
  end
  for _, verb in ipairs { "get", "list", "watch", "create", "delete" } do ask(denied, verb, "", "secrets") end
  for _, verb in ipairs { "create", "get" } do
    ask(denied, verb, "", "pods", "exec")
    ask(denied, verb, "", "pods", "portforward")
  end
  ask(denied, "escalate", "rbac.authorization.k8s.io", "clusterroles")
  ask(denied, "impersonate", "", "serviceaccounts")
  for _, verb in ipairs(READ) do
    ask(allowed, verb, "", "pods")
    ask(allowed, verb, "postgresql.cnpg.io", "clusters")
  end
  return denied, allowed
end

-- Asks the API server about the ops ServiceAccount; returns {asked = n} or raises one line listing every answer
-- that was wrong (a write allowed, or a read denied).
function operators.prove_read_only(kc, namespace)
  local user = string.format("system:serviceaccount:%s:%s", operators.OPS_NAMESPACE, operators.OPS_ACCOUNT)
  local denied, allowed = operators.ops_questions(namespace or "default")
  local questions = {}
  for _, attrs in ipairs(denied) do questions[#questions + 1] = { attrs = attrs, expect = false } end
  for _, attrs in ipairs(allowed) do questions[#questions + 1] = { attrs = attrs, expect = true } end
  -- Asked REVIEW_CONCURRENCY at a time (hundreds of questions: one after another, they took seconds of round trips).
  local answers = playbook.for_each(questions, { concurrency = REVIEW_CONCURRENCY }, function(q)
    return review(kc, user, q.attrs)
  end)
  local wrong, asked = {}, #questions
  for i, q in ipairs(questions) do
    if answers[i] ~= q.expect then wrong[#wrong + 1] = (answers[i] and "allowed " or "denied ") .. describe(q.attrs) end
  end
  if #wrong > 0 then
    error(alaris.error("failed", string.format("%s is not read-only as intended: %s", user,
      table.concat(wrong, ", "))), 0)
  end
  return { asked = asked, user = user }
end

return operators
