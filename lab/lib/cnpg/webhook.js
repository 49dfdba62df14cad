'use strict';
// CloudNativePG's validating admission webhooks as the lab plays them: a store hook that refuses, with 422
// Invalid and the message the API server relays from the webhook (`admission webhook "vcluster.cnpg.io" denied
// the request: Cluster.postgresql.cnpg.io "x" is invalid: <field errors>`), writes of Cluster and ScheduledBackup
// objects that CNPG 1.28 refuses. Checked: CNPG's fixed configuration parameters in spec.postgresql.parameters,
// a bootstrap.recovery.source missing from externalClusters, instances < 1, more than one WAL archiver plugin,
// maxSyncReplicas not below instances, minSyncReplicas above maxSyncReplicas, a ScheduledBackup schedule that is
// not 6 fields (with seconds). The one-bootstrap-method rule is in k8s/validation/rules.js. Status writes pass.

const { StatusError } = require('../k8s/errors');

// CNPG's FixedConfigurationParameters (pkg/postgres/configuration.go): the operator owns these.
const FIXED_PARAMETERS = new Set([
  'allow_alter_system', 'allow_system_table_mods', 'archive_cleanup_command', 'archive_command', 'archive_mode', 'bonjour',
  'bonjour_name', 'cluster_name', 'config_file', 'data_directory', 'data_sync_retry', 'event_source', 'external_pid_file',
  'full_page_writes', 'hba_file', 'hot_standby', 'ident_file', 'jit_provider', 'listen_addresses', 'log_destination',
  'log_directory', 'log_file_mode', 'log_filename', 'log_rotation_age', 'log_rotation_size', 'log_truncate_on_rotation',
  'logging_collector', 'port', 'primary_conninfo', 'primary_slot_name', 'promote_trigger_file', 'recovery_end_command',
  'recovery_min_apply_delay', 'recovery_target', 'recovery_target_action', 'recovery_target_inclusive',
  'recovery_target_lsn', 'recovery_target_name', 'recovery_target_time', 'recovery_target_timeline', 'recovery_target_xid',
  'restart_after_crash', 'restore_command', 'ssl', 'ssl_ca_file', 'ssl_cert_file', 'ssl_crl_file', 'ssl_dh_params_file',
  'ssl_ecdh_curve', 'ssl_key_file', 'ssl_passphrase_command', 'ssl_passphrase_command_supports_reload',
  'ssl_prefer_server_ciphers', 'stats_temp_directory', 'synchronous_standby_names', 'syslog_facility', 'syslog_ident',
  'syslog_sequence_numbers', 'syslog_split_messages', 'unix_socket_directories', 'unix_socket_group',
  'unix_socket_permissions', 'wal_level', 'wal_log_hints',
]);

const goValue = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const invalid = (field, value, detail) => ({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${goValue(value)}: ${detail}` });
const forbidden = (field, detail) => ({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` });

function clusterErrors(o) {
  const spec = o.spec || {};
  const errs = [];
  for (const key of Object.keys((spec.postgresql || {}).parameters || {})) {
    if (FIXED_PARAMETERS.has(key)) errs.push(forbidden(`spec.postgresql.parameters.${key}`, "Can't set fixed configuration parameter"));
  }
  const recovery = (spec.bootstrap || {}).recovery;
  if (recovery && recovery.source && !(spec.externalClusters || []).some((c) => c.name === recovery.source)) {
    errs.push(invalid('spec.bootstrap.recovery.source', recovery.source, `External cluster ${recovery.source} not found`));
  }
  if (spec.instances !== undefined && spec.instances < 1) errs.push(invalid('spec.instances', spec.instances, 'Cluster must have at least one instance'));
  const archivers = (spec.plugins || []).filter((p) => p.isWALArchiver && p.enabled !== false);
  if (archivers.length > 1) errs.push(invalid('spec.plugins', archivers.map((p) => p.name).join(', '), 'only one WAL archiver plugin is allowed'));
  const instances = spec.instances || 1;
  if (spec.maxSyncReplicas > 0 && spec.maxSyncReplicas >= instances) {
    errs.push(invalid('spec.maxSyncReplicas', spec.maxSyncReplicas, 'maxSyncReplicas must be lower than the number of instances'));
  }
  if ((spec.minSyncReplicas || 0) > (spec.maxSyncReplicas || 0)) {
    errs.push(invalid('spec.minSyncReplicas', spec.minSyncReplicas, 'cannot be greater than maxSyncReplicas'));
  }
  return errs;
}

// robfig/cron with seconds, as CNPG parses ScheduledBackup.spec.schedule (descriptors like @daily pass).
function scheduleErrors(o) {
  const schedule = String((o.spec || {}).schedule || '');
  if (schedule.startsWith('@')) return [];
  const fields = schedule.trim().split(/\s+/).filter(Boolean);
  if (fields.length === 6) return [];
  return [invalid('spec.schedule', schedule, `expected exactly 6 fields, found ${fields.length}: [${fields.join(' ')}]`)];
}

const CHECKS = {
  clusters: { kind: 'Cluster', webhook: 'vcluster.cnpg.io', errors: clusterErrors },
  scheduledbackups: { kind: 'ScheduledBackup', webhook: 'vscheduledbackup.cnpg.io', errors: scheduleErrors },
};

function hook(op, res, obj, old, opts) {
  if (res.group !== 'postgresql.cnpg.io' || (op !== 'create' && op !== 'update') || (opts && opts.subresource)) return;
  const check = CHECKS[res.resource];
  if (!check) return;
  const causes = check.errors(obj);
  if (!causes.length) return;
  const name = obj.metadata.name;
  const listed = causes.map((c) => `${c.field}: ${c.message}`);
  const detail = listed.length === 1 ? listed[0] : `[${listed.join(', ')}]`;
  throw new StatusError(422, 'Invalid',
    `admission webhook "${check.webhook}" denied the request: ${check.kind}.postgresql.cnpg.io "${name}" is invalid: ${detail}`,
    { name, group: 'postgresql.cnpg.io', kind: check.kind, causes });
}

function install(store) {
  store.addHook(hook);
}

module.exports = { install, clusterErrors, scheduleErrors, FIXED_PARAMETERS };
