'use strict';
// JSON log lines: one per request on stdout, one per error on stderr, plus the few lifecycle events
// (listening, shutting down, stopped) on stdout. Every line, and every text handed to `redact`, has the secrets
// it was given (the database password) replaced, in their plain and JSON-escaped forms, before it is written.

const REDACTED = '[redacted]';

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function redactor(secrets) {
  const forms = new Set();
  for (const secret of secrets) {
    if (!secret) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  if (forms.size === 0) return (s) => s;
  // Longest first, so a secret that contains another is replaced whole.
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
  return (s) => String(s).replace(pattern, REDACTED);
}

// A logger writing to `stdout` and `stderr` (streams), with `secrets` (strings) masked in everything it writes.
function createLogger({ stdout = process.stdout, stderr = process.stderr, secrets = [] } = {}) {
  const redact = redactor(secrets);
  const write = (stream, level, msg, fields) => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
    stream.write(redact(line) + '\n');
  };
  return {
    redact,
    info: (msg, fields = {}) => write(stdout, 'info', msg, fields),
    error: (msg, fields = {}) => write(stderr, 'error', msg, fields),
    request: (fields) => write(stdout, 'info', 'request', fields),
  };
}

module.exports = { createLogger, REDACTED };
