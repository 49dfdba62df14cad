'use strict';
// Status objects shaped exactly as the Kubernetes API server writes them, and a StatusError that carries
// one through the emulator until the HTTP layer serialises it. Does not decide *when* an error happens.

class StatusError extends Error {
  constructor(code, reason, message, details) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  static fromStatus(status) {
    return new StatusError(status.code, status.reason, status.message, status.details);
  }

  toStatus() {
    return failureStatus(this.code, this.reason, this.message, this.details);
  }
}

function failureStatus(code, reason, message, details) {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message };
  if (reason) status.reason = reason;
  if (details && Object.keys(details).length) status.details = details;
  status.code = code;
  return status;
}

function successStatus(details) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

// "deployments.apps" / "pods": how the server names a resource in messages.
function qualified(res) {
  return res.group ? `${res.resource}.${res.group}` : res.resource;
}

function detailsFor(res, name, extra) {
  const d = {};
  if (name !== undefined && name !== '') d.name = name;
  if (res) {
    if (res.group) d.group = res.group;
    d.kind = res.resource;
  }
  return Object.assign(d, extra || {});
}

const errors = {
  notFound: (res, name) => new StatusError(404, 'NotFound', `${qualified(res)} "${name}" not found`, detailsFor(res, name)),
  alreadyExists: (res, name) =>
    new StatusError(409, 'AlreadyExists', `${qualified(res)} "${name}" already exists`, detailsFor(res, name)),
  conflict: (res, name, why) => new StatusError(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualified(res)} "${name}": ${why}`, detailsFor(res, name)),
  staleUpdate: (res, name) => errors.conflict(res, name,
    'the object has been modified; please apply your changes to the latest version and try again'),
  // Validation failures: HTTP 422, details.kind is the Kind (not the resource) as the real server writes it.
  invalid: (res, kindName, name, causes) => {
    const label = res.group ? `${kindName}.${res.group}` : kindName;
    const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
    const body = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
    const details = { name, kind: kindName, causes };
    if (res.group) details.group = res.group;
    return new StatusError(422, 'Invalid', `${label} "${name}" is invalid: ${body}`, details);
  },
  badRequest: (message, details) => new StatusError(400, 'BadRequest', message, details),
  // Patch documents that cannot be applied: 422 without causes, as the real server's patch handler answers.
  unprocessable: (message) => new StatusError(422, 'Invalid', message),
  forbidden: (message, details) => new StatusError(403, 'Forbidden', message, details),
  methodNotAllowed: (message) => new StatusError(405, 'MethodNotAllowed',
    message || 'the server does not allow this method on the requested resource'),
  unsupportedMediaType: (message) => new StatusError(415, 'UnsupportedMediaType', message),
  expired: (message) => new StatusError(410, 'Expired', message),
  gone: (message) => new StatusError(410, 'Gone', message),
  unauthorized: () => new StatusError(401, 'Unauthorized', 'Unauthorized'),
  pathNotFound: () => new StatusError(404, 'NotFound', 'the server could not find the requested resource'),
  internal: (message) => new StatusError(500, 'InternalError', message),
};

module.exports = { StatusError, failureStatus, successStatus, errors, qualified };
