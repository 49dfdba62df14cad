'use strict';
// Who is calling: the bearer token and client-certificate authenticators of the emulated API server
// (both lab users are in system:masters), and `Impersonate-User` / `Impersonate-Group` headers (allowed
// to whoever RBAC lets `impersonate`, e.g. system:masters), as `kubectl --as` sends them.

const crypto = require('crypto');
const { errors, StatusError } = require('./errors');
const { authorize } = require('./rbac');

function sameSecret(a, b) {
  const x = crypto.createHash('sha256').update(String(a)).digest();
  const y = crypto.createHash('sha256').update(String(b)).digest();
  return crypto.timingSafeEqual(x, y);
}

const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function userFromCertificate(socket) {
  if (!socket || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return null;
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject || !cert.subject.CN) return null;
  return { name: cert.subject.CN, groups: asList(cert.subject.O).concat('system:authenticated') };
}

// Returns the authenticated user or throws 401.
function authenticate(req, token) {
  const fromCert = userFromCertificate(req.socket);
  if (fromCert) return fromCert;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization || '');
  if (m && sameSecret(m[1], token)) return { name: 'lab-admin', groups: ['system:masters', 'system:authenticated'] };
  throw errors.unauthorized();
}

function serviceAccountGroups(name) {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
  return m ? ['system:serviceaccounts', `system:serviceaccounts:${m[1]}`] : [];
}

function denyImpersonation(user, resource, name) {
  return new StatusError(403, 'Forbidden',
    `${resource} "${name}" is forbidden: User "${user.name}" cannot impersonate resource "${resource}" in API group "" at the cluster scope`,
    { name, kind: resource });
}

// Applies impersonation headers, if any; returns the user the request acts as.
function impersonate(store, user, req) {
  const headers = req.headersDistinct || {};
  const name = asList(headers['impersonate-user'])[0];
  const groups = asList(headers['impersonate-group']);
  if (!name) {
    if (groups.length) throw errors.badRequest(`requested [${groups.map((g) => `{Group  ${g}  }`).join(' ')}] without impersonating a user`);
    return user;
  }
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
  const target = sa
    ? { verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: sa[1], name: sa[2] }
    : { verb: 'impersonate', group: '', resource: 'users', name };
  if (!authorize(store, user, target).allowed) throw denyImpersonation(user, target.resource, target.name);
  for (const g of groups) {
    if (!authorize(store, user, { verb: 'impersonate', group: '', resource: 'groups', name: g }).allowed) throw denyImpersonation(user, 'groups', g);
  }
  const finalGroups = groups.length ? groups.slice() : serviceAccountGroups(name);
  if (!finalGroups.includes('system:authenticated')) finalGroups.push('system:authenticated');
  return { name, groups: finalGroups };
}

module.exports = { authenticate, impersonate };
