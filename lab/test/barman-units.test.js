'use strict';
// The barman-cloud side's pure parts: ScheduledBackup's 6-field cron with seconds (next times, names, refusals),
// the retentionPolicy syntax, reading barman's times, choosing the base backup for a recovery target and the
// recovery settings written for each kind of target, and barman's error line.

const test = require('node:test');
const assert = require('node:assert');
const { parse, compactISO } = require('../lib/cnpg/scheduled-backup');
const { retentionPolicyText, parseBarmanTime, recoveryWindow } = require('../lib/cnpg/barman-catalog');
const { chooseBackup, recoverySettings } = require('../lib/cnpg/recovery');
const { barmanMessage } = require('../lib/cnpg/objectstore');

const at = (s) => new Date(s);

test('cron with seconds: steps, ranges, lists, names and descriptors give the next times', () => {
  assert.deepEqual(parse('*/10 * * * * *').next(at('2026-12-03T15:00:03Z')), at('2026-12-03T15:00:10Z'));
  assert.deepEqual(parse('*/10 * * * * *').next(at('2026-12-03T15:00:10Z')), at('2026-12-03T15:00:20Z'), 'strictly after');
  assert.deepEqual(parse('0 0 0 * * *').next(at('2026-12-31T23:59:59Z')), at('2027-01-01T00:00:00Z'));
  assert.deepEqual(parse('0 30 2 * * MON').next(at('2026-12-03T15:00:00Z')), at('2026-12-07T02:30:00Z'), 'Monday 02:30');
  assert.deepEqual(parse('0 0 12 1,15 * ?').next(at('2026-12-03T00:00:00Z')), at('2026-12-15T12:00:00Z'));
  assert.deepEqual(parse('0 0 0 1 FEB *').next(at('2026-12-03T00:00:00Z')), at('2027-02-01T00:00:00Z'));
  assert.deepEqual(parse('5-7 * * * * *').next(at('2026-12-03T00:00:07Z')), at('2026-12-03T00:01:05Z'));
  assert.deepEqual(parse('0 0 0 29 2 *').next(at('2026-12-03T00:00:00Z')), at('2028-02-29T00:00:00Z'), 'leap day');
  assert.deepEqual(parse('@every 10s').next(at('2026-12-03T00:00:00.400Z')), at('2026-12-03T00:00:10Z'));
  assert.deepEqual(parse('@hourly').next(at('2026-12-03T00:10:00Z')), at('2026-12-03T01:00:00Z'));
});

test('cron: 5 fields and out-of-range values are refused', () => {
  assert.throws(() => parse('*/5 * * * *'), /expected exactly 6 fields, found 5/);
  assert.throws(() => parse('60 * * * * *'), /out of range 0-59/);
  assert.throws(() => parse('0 0 25 * * *'), /out of range 0-23/);
  assert.throws(() => parse('*/0 * * * * *'), /bad step/);
});

test('Backup names carry the schedule time as CNPG writes it', () => {
  assert.equal(compactISO(at('2026-12-03T15:04:05.678Z')), '20261203150405');
});

test('retentionPolicy: days, weeks, months; anything else is not a policy', () => {
  assert.equal(retentionPolicyText('30d'), 'RECOVERY WINDOW OF 30 DAYS');
  assert.equal(retentionPolicyText('2w'), 'RECOVERY WINDOW OF 2 WEEKS');
  assert.equal(retentionPolicyText('1m'), 'RECOVERY WINDOW OF 1 MONTHS');
  assert.equal(retentionPolicyText('0d'), null);
  assert.equal(retentionPolicyText('7'), null);
});

const backups = [
  { backupId: '20261201T100000', status: 'DONE', endTime: at('2026-12-01T10:00:30Z'), endLSN: '0/3000100' },
  { backupId: '20261202T100000', status: 'FAILED', beginTime: at('2026-12-02T10:00:00Z'), endTime: null, endLSN: null },
  { backupId: '20261203T100000', status: 'DONE', endTime: at('2026-12-03T10:00:30Z'), endLSN: '0/9000100' },
];

test('recovery picks the newest completed backup that ended before the target', () => {
  assert.equal(chooseBackup(backups, { targetTime: '2026-12-02T12:00:00+00:00' }).backupId, '20261201T100000');
  assert.equal(chooseBackup(backups, { targetTime: '2026-12-03T12:00:00Z' }).backupId, '20261203T100000');
  assert.equal(chooseBackup(backups, { targetTime: '2026-12-03T12:00:00+02:00' }).backupId, '20261201T100000', 'the offset counts (10:00 UTC)');
  assert.equal(chooseBackup(backups, { targetTime: '2026-12-03T10:00:29Z' }).backupId, '20261201T100000', 'one ending after the target is not used');
  assert.equal(chooseBackup(backups, { targetTime: '2026-11-30T00:00:00Z' }), null, 'before the first recoverability point');
  assert.equal(chooseBackup(backups, { targetLSN: '0/5000000' }).backupId, '20261201T100000');
  assert.equal(chooseBackup(backups, { backupID: '20261203T100000', targetName: 'x' }).backupId, '20261203T100000');
  assert.equal(chooseBackup(backups, {}).backupId, '20261203T100000');
  assert.equal(chooseBackup([], {}), null, 'a store without backups');
});

test('recovery settings for each target kind, always promoting', () => {
  assert.deepEqual(recoverySettings({ targetTime: '2026-12-03T10:00:00+00:00', exclusive: true }),
    { recovery_target_action: 'promote', hot_standby: 'off', recovery_target_time: '2026-12-03T10:00:00+00:00', recovery_target_inclusive: 'off' });
  assert.equal(recoverySettings({ targetLSN: '0/3000000' }).recovery_target_lsn, '0/3000000');
  assert.equal(recoverySettings({ targetXID: '1234' }).recovery_target_xid, '1234');
  assert.equal(recoverySettings({ targetName: 'before-migration' }).recovery_target_name, 'before-migration');
  assert.equal(recoverySettings({ targetImmediate: true }).recovery_target, 'immediate');
});

test('barman times (ctime, no zone) are read as UTC; the recovery window spans the completed backups', () => {
  assert.deepEqual(parseBarmanTime('Thu Dec  3 15:09:42 2026'), at('2026-12-03T15:09:42Z'));
  assert.deepEqual(recoveryWindow(backups), { firstRecoverabilityPoint: '2026-12-01T10:00:30Z', lastSuccessfulBackupTime: '2026-12-03T10:00:30Z',
    lastFailedBackupTime: '2026-12-02T10:00:00Z' });
});

test("barman's message is its last ERROR line without the time stamp and pid", () => {
  const stderr = '2026-12-03 15:00:00,123 [42] INFO: starting\n[2065] ERROR: Barman cloud WAL archive check exception: (403) Forbidden\n';
  assert.equal(barmanMessage(stderr), 'ERROR: Barman cloud WAL archive check exception: (403) Forbidden');
});
