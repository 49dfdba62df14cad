-- alaris.netpol: NetworkPolicy semantics as the Kubernetes API defines them (networking.k8s.io/v1), evaluated on
-- plain Lua tables shaped like the API's objects, so a playbook can prove isolation from the live objects without
-- sending a packet. It does not talk to a cluster and does not enforce anything.
--
-- A world is { namespaces = {Namespace...}, pods = {Pod...}, policies = {NetworkPolicy...} }. An endpoint is a Pod
-- of that world, { ip = "203.0.113.7" } for an address outside the cluster, or { node = true } for the node a pod runs
-- on (node-to-pod traffic is always allowed, as the Kubernetes documentation states).
--
-- Choices where the API leaves room to implementations (documented in docs/modules/netpol.md):
--   * ipBlock peers are matched against pod IPs as well as external addresses (Calico and Cilium do; the API says
--     ipBlock is meant for cluster-external addresses, so policies should not rely on either reading);
--   * a namespace without the kubernetes.io/metadata.name label is treated as carrying it, as the API server sets it.
local netpol = {}

local function labels_of(obj)
  return (obj and obj.metadata and obj.metadata.labels) or {}
end

local function name_of(obj)
  return obj.metadata and obj.metadata.name
end

local function namespace_of(obj)
  return (obj.metadata and obj.metadata.namespace) or "default"
end

-- --- label selectors (metav1.LabelSelector) ---

local function list_has(list, value)
  for _, v in ipairs(list or {}) do
    if v == value then return true end
  end
  return false
end

local function expression_matches(expr, labels)
  local value, op = labels[expr.key], expr.operator
  if op == "In" then return value ~= nil and list_has(expr.values, value) end
  if op == "NotIn" then return value == nil or not list_has(expr.values, value) end
  if op == "Exists" then return value ~= nil end
  if op == "DoesNotExist" then return value == nil end
  error(string.format("label selector: unknown operator %q", tostring(op)), 0)
end

-- An empty selector ({}) selects everything; nil selects nothing.
function netpol.selector_matches(selector, labels)
  if selector == nil then return false end
  for key, value in pairs(selector.matchLabels or {}) do
    if labels[key] ~= value then return false end
  end
  for _, expr in ipairs(selector.matchExpressions or {}) do
    if not expression_matches(expr, labels) then return false end
  end
  return true
end

-- --- IPv4 blocks ---

local function parse_ipv4(s)
  local a, b, c, d = tostring(s):match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local n = 0
  for _, part in ipairs { a, b, c, d } do
    local v = tonumber(part)
    if v > 255 then return nil end
    n = n * 256 + v
  end
  return n
end

local function parse_cidr(cidr)
  local ip, bits = tostring(cidr):match("^([%d.]+)/(%d+)$")
  local base, len = parse_ipv4(ip), tonumber(bits)
  if not base or not len or len > 32 then error(string.format("ipBlock: %q is not an IPv4 CIDR", tostring(cidr)), 0) end
  local size = 1 << (32 - len)
  return base - base % size, size
end

function netpol.cidr_contains(cidr, ip)
  local n = parse_ipv4(ip)
  if not n then return false end
  local base, size = parse_cidr(cidr)
  return n >= base and n < base + size
end

local function ip_block_matches(block, ip)
  if not ip or not netpol.cidr_contains(block.cidr, ip) then return false end
  for _, except in ipairs(block.except or {}) do
    if netpol.cidr_contains(except, ip) then return false end
  end
  return true
end

-- --- the world ---

local function is_pod(endpoint)
  return type(endpoint) == "table" and endpoint.metadata ~= nil
end

local function pod_ip(pod)
  return pod.status and pod.status.podIP
end

local function endpoint_ip(endpoint)
  if is_pod(endpoint) then return pod_ip(endpoint) end
  return endpoint.ip
end

function netpol.describe(endpoint)
  if endpoint.node then return "node" end
  if is_pod(endpoint) then return namespace_of(endpoint) .. "/" .. name_of(endpoint) end
  return tostring(endpoint.ip)
end

local function namespace_labels(world, name)
  for _, ns in ipairs(world.namespaces or {}) do
    if name_of(ns) == name then
      local labels = {}
      for k, v in pairs(labels_of(ns)) do labels[k] = v end
      labels["kubernetes.io/metadata.name"] = labels["kubernetes.io/metadata.name"] or name
      return labels
    end
  end
  return { ["kubernetes.io/metadata.name"] = name }
end

-- The policy types a policy has once the API server has defaulted them: Ingress always, Egress only when the policy
-- has egress rules. An explicit list is taken as written, even when it leaves out a direction the rules talk about.
function netpol.policy_types(policy)
  local spec = policy.spec or {}
  if spec.policyTypes then
    local types = {}
    for _, t in ipairs(spec.policyTypes) do types[t] = true end
    return types
  end
  return { Ingress = true, Egress = spec.egress ~= nil and #spec.egress > 0 }
end

-- The policies that isolate a pod in a direction ("Ingress" or "Egress").
function netpol.isolating(world, pod, direction)
  local found = {}
  for _, policy in ipairs(world.policies or {}) do
    if namespace_of(policy) == namespace_of(pod) and netpol.policy_types(policy)[direction]
        and netpol.selector_matches((policy.spec or {}).podSelector or {}, labels_of(pod)) then
      found[#found + 1] = policy
    end
  end
  return found
end

-- --- rules ---

local function peer_matches(world, peer, endpoint, policy_ns)
  if peer.ipBlock then return ip_block_matches(peer.ipBlock, endpoint_ip(endpoint)) end
  if not is_pod(endpoint) then return false end -- selectors only ever select pods
  if peer.namespaceSelector then
    if not netpol.selector_matches(peer.namespaceSelector, namespace_labels(world, namespace_of(endpoint))) then
      return false
    end
  elseif namespace_of(endpoint) ~= policy_ns then
    return false -- a podSelector alone means pods of the policy's own namespace
  end
  return netpol.selector_matches(peer.podSelector or {}, labels_of(endpoint))
end

-- The number a named port stands for on the destination pod, for that protocol; nil when the pod has no such port.
local function resolve_named_port(pod, name, protocol)
  if not is_pod(pod) then return nil end
  for _, container in ipairs((pod.spec or {}).containers or {}) do
    for _, p in ipairs(container.ports or {}) do
      if p.name == name and (p.protocol or "TCP") == protocol then return p.containerPort end
    end
  end
  return nil
end

local function port_matches(entry, dst, port, protocol)
  if (entry.protocol or "TCP") ~= protocol then return false end
  if entry.port == nil then return true end
  local first = entry.port
  if type(first) == "string" then
    first = resolve_named_port(dst, first, protocol)
    if first == nil then return false end
    return first == port -- endPort is only allowed with a numeric port
  end
  return port >= first and port <= (entry.endPort or first)
end

-- An empty or absent list admits everything; otherwise one entry must match.
local function any_entry(list, matches)
  if list == nil or #list == 0 then return true end
  for _, entry in ipairs(list) do
    if matches(entry) then return true end
  end
  return false
end

local function ports_match(ports, dst, port, protocol)
  return any_entry(ports, function(entry) return port_matches(entry, dst, port, protocol) end)
end

local function peers_match(world, peers, endpoint, policy_ns)
  return any_entry(peers, function(peer) return peer_matches(world, peer, endpoint, policy_ns) end)
end

-- Which rule of which isolating policy admits the flow; nil when none does.
local function admitting_rule(world, policies, direction, peer, dst, port, protocol)
  local rules_key, peers_key = "ingress", "from"
  if direction == "Egress" then rules_key, peers_key = "egress", "to" end
  for _, policy in ipairs(policies) do
    for i, rule in ipairs((policy.spec or {})[rules_key] or {}) do
      if peers_match(world, rule[peers_key], peer, namespace_of(policy)) and ports_match(rule.ports, dst, port, protocol) then
        return string.format("%s/%s %s rule %d", namespace_of(policy), name_of(policy), rules_key, i)
      end
    end
  end
  return nil
end

local function policy_names(policies)
  local names = {}
  for _, p in ipairs(policies) do names[#names + 1] = name_of(p) end
  return table.concat(names, ", ")
end

-- One direction's verdict: allowed, and a phrase saying why.
local function direction_verdict(world, direction, pod, peer, dst, port, protocol)
  local policies = netpol.isolating(world, pod, direction)
  local what = direction == "Egress" and "egress from " or "ingress to "
  if #policies == 0 then return true, what .. netpol.describe(pod) .. " not isolated" end
  local rule = admitting_rule(world, policies, direction, peer, dst, port, protocol)
  if rule then return true, what .. netpol.describe(pod) .. " allowed by " .. rule end
  return false, string.format("%s%s isolated by [%s] and no rule admits it", what, netpol.describe(pod),
    policy_names(policies))
end

-- Does the world let src open a connection to dst:port/protocol? Returns the verdict and a one-line reason.
-- Replies of an allowed connection are always allowed, so only the opening direction is evaluated.
function netpol.allows(world, src, dst, port, protocol)
  protocol = protocol or "TCP"
  assert(math.tointeger(port), "netpol.allows: port must be an integer")
  if src.node or dst.node then return true, "traffic between a pod and its node is always allowed" end
  local reasons = {}
  if is_pod(src) then
    local ok, why = direction_verdict(world, "Egress", src, dst, dst, port, protocol)
    if not ok then return false, why end
    reasons[#reasons + 1] = why
  end
  if is_pod(dst) then
    local ok, why = direction_verdict(world, "Ingress", dst, src, dst, port, protocol)
    if not ok then return false, why end
    reasons[#reasons + 1] = why
  end
  return true, table.concat(reasons, "; ")
end

-- --- the matrix ---

local function declared_ports(pod)
  local ports = {}
  for _, container in ipairs((pod.spec or {}).containers or {}) do
    for _, p in ipairs(container.ports or {}) do
      ports[#ports + 1] = { port = p.containerPort, protocol = p.protocol or "TCP" }
    end
  end
  return ports
end

-- Every (source, destination pod, port) with its verdict. opts.sources adds endpoints that are not pods of the
-- world (external addresses); opts.ports(pod) returns the ports to try on a destination (default: its declared
-- container ports); opts.include_self keeps a pod's flows to itself (left out by default).
function netpol.matrix(world, opts)
  opts = opts or {}
  local sources = {}
  for _, pod in ipairs(world.pods or {}) do sources[#sources + 1] = pod end
  for _, extra in ipairs(opts.sources or {}) do sources[#sources + 1] = extra end
  local ports_of = opts.ports or declared_ports
  local cells = {}
  for _, dst in ipairs(world.pods or {}) do
    for _, p in ipairs(ports_of(dst)) do
      for _, src in ipairs(sources) do
        if src ~= dst or opts.include_self then
          local allowed, reason = netpol.allows(world, src, dst, p.port, p.protocol)
          cells[#cells + 1] = { src = src, dst = dst, port = p.port, protocol = p.protocol or "TCP",
            allowed = allowed, reason = reason }
        end
      end
    end
  end
  return cells
end

function netpol.describe_cell(cell)
  return string.format("%s -> %s:%d/%s %s (%s)", netpol.describe(cell.src), netpol.describe(cell.dst), cell.port,
    cell.protocol, cell.allowed and "allowed" or "denied", cell.reason)
end

-- The cells whose verdict differs from what expect(cell) says (true: must be allowed, false: must be denied, nil: no
-- opinion), each with a line naming it.
function netpol.violations(cells, expect)
  local bad = {}
  for _, cell in ipairs(cells) do
    local want = expect(cell)
    if want ~= nil and want ~= cell.allowed then
      bad[#bad + 1] = { cell = cell, expected = want,
        message = string.format("expected %s: %s", want and "allowed" or "denied", netpol.describe_cell(cell)) }
    end
  end
  return bad
end

return netpol
