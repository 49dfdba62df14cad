-- Grade tenants, as CI does: the seed's ten checks done right (smoke, public and internal endpoints, isolation
-- probes, ops access, backups in the bucket, DR readiness, a DR drill and PITR on real restores), the static
-- isolation proof from the live NetworkPolicies, ops RBAC proven read-only and backups fresh. Read-only for the
-- tenants: probes are short-lived pods, restores are new Clusters, all removed afterwards.
--   alaris-run playbooks/grade.lua tenants=tenant-a,tenant-b [skip=dr-drill,pitr] [--output json] [--junit FILE]
-- PASS, FAIL or ERROR per check and tenant (docs/playbooks/grade.md); exit 0 only when every selected check passed.
os.exit(require("alaris.grade").main(arg))
