'use strict';
// authorization.k8s.io/v1 reviews answered by evaluating the stored RBAC rules (rbac.js):
// SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview and SelfSubjectRulesReview.
// The reviews are never stored; the answer is the posted object with `status` filled in (201 Created).

const { errors } = require('./errors');
const { readBody, mediaType, parseObject, sendJSON } = require('./http');
const rbac = require('./rbac');

function answer(ctx, route, body) {
  const kind = route.resource.kind;
  const spec = body.spec || {};
  switch (kind) {
    case 'SelfSubjectAccessReview':
      return rbac.reviewStatus(ctx.store, ctx.user, rbac.attrsFromSpec(spec));
    case 'SubjectAccessReview':
      if (!spec.user && !(spec.groups || []).length) {
        throw errors.invalid(route.resource, kind, '', [{ reason: 'FieldValueInvalid', message: 'Invalid value: "": at least one of user or group must be specified', field: 'spec.user' }]);
      }
      return rbac.reviewStatus(ctx.store, rbac.userFromSpec(spec), rbac.attrsFromSpec(spec));
    case 'LocalSubjectAccessReview': {
      const attrs = rbac.attrsFromSpec(spec);
      if (attrs.namespace !== route.namespace) {
        throw errors.invalid(route.resource, kind, '', [{ reason: 'FieldValueInvalid', message: `Invalid value: "${attrs.namespace || ''}": must match metadata.namespace`, field: 'spec.resourceAttributes.namespace' }]);
      }
      return rbac.reviewStatus(ctx.store, rbac.userFromSpec(spec), attrs);
    }
    case 'SelfSubjectRulesReview':
      return rbac.rulesReview(ctx.store, ctx.user, spec.namespace);
    default:
      throw errors.methodNotAllowed();
  }
}

async function handleReview(ctx, route) {
  if (ctx.req.method !== 'POST' || route.name !== undefined) throw errors.methodNotAllowed();
  const body = parseObject(await readBody(ctx.req), mediaType(ctx.req));
  const expected = `${route.resource.group}/${route.resource.version}`;
  if (body.apiVersion && body.apiVersion !== expected) {
    throw errors.badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${expected})`);
  }
  const status = answer(ctx, route, body);
  const metadata = Object.assign({}, body.metadata || {}, { creationTimestamp: null });
  if (route.resource.namespaced) metadata.namespace = route.namespace;
  sendJSON(ctx.res, 201, { kind: route.resource.kind, apiVersion: expected, metadata, spec: body.spec || {}, status });
}

module.exports = { handleReview };
