---@meta
-- LuaLS type stubs for `alaris.netpol` (stdlib/alaris/netpol.lua): NetworkPolicy semantics on plain tables shaped like
-- Kubernetes objects. For editors only; tests/types_test.lua checks it against the real module.

---A Pod of the world, `{ ip = "203.0.113.7" }` for an address outside the cluster, or `{ node = true }` for the node.
---@alias alaris.netpol.Endpoint table

---@class alaris.netpol.World
---@field namespaces table[] Namespace objects (metadata.name, metadata.labels)
---@field pods table[] Pod objects (metadata, spec.containers[].ports, status.podIP)
---@field policies table[] NetworkPolicy objects

---@class alaris.netpol.Cell
---@field src alaris.netpol.Endpoint
---@field dst table the destination Pod
---@field port integer
---@field protocol string
---@field allowed boolean
---@field reason string which policy rule admitted the flow, or which policies isolate it

---@class alaris.netpol.Violation
---@field cell alaris.netpol.Cell
---@field expected boolean
---@field message string one line naming the cell

---@class alaris.netpol
local netpol = {}

---Whether a metav1.LabelSelector selects these labels: `{}` selects everything, `nil` nothing. Raises on an unknown
---matchExpressions operator.
---@param selector table|nil
---@param labels table<string, string>
---@return boolean
function netpol.selector_matches(selector, labels) end

---Whether an IPv4 address lies in a CIDR block. Raises on a malformed CIDR.
---@param cidr string
---@param ip string
---@return boolean
function netpol.cidr_contains(cidr, ip) end

---`namespace/name` of a pod, `node`, or the address of an external endpoint.
---@param endpoint alaris.netpol.Endpoint
---@return string
function netpol.describe(endpoint) end

---The policy types of a policy after the API server's defaulting, as a set.
---@param policy table a NetworkPolicy
---@return {Ingress: boolean, Egress: boolean}
function netpol.policy_types(policy) end

---The policies that isolate a pod in one direction.
---@param world alaris.netpol.World
---@param pod table
---@param direction "Ingress"|"Egress"
---@return table[]
function netpol.isolating(world, pod, direction) end

---Whether `src` may open a connection to `dst` on `port` (protocol `TCP` unless given), with a one-line reason.
---@param world alaris.netpol.World
---@param src alaris.netpol.Endpoint
---@param dst alaris.netpol.Endpoint
---@param port integer
---@param protocol? "TCP"|"UDP"|"SCTP"
---@return boolean allowed
---@return string reason
function netpol.allows(world, src, dst, port, protocol) end

---Every (source, destination pod, port) of the world with its verdict.
---@param world alaris.netpol.World
---@param opts? {sources?: alaris.netpol.Endpoint[], ports?: fun(pod: table): {port: integer, protocol?: string}[], include_self?: boolean}
---@return alaris.netpol.Cell[]
function netpol.matrix(world, opts) end

---One line for a cell: `src -> dst:port/proto allowed|denied (reason)`.
---@param cell alaris.netpol.Cell
---@return string
function netpol.describe_cell(cell) end

---The cells whose verdict differs from `expect(cell)` (true: must be allowed, false: must be denied, nil: no opinion).
---@param cells alaris.netpol.Cell[]
---@param expect fun(cell: alaris.netpol.Cell): boolean|nil
---@return alaris.netpol.Violation[]
function netpol.violations(cells, expect) end

return netpol
