'use strict';
// RBAC authorization over the stored Role/ClusterRole/RoleBinding/ClusterRoleBinding objects, with the
// real authorizer's matching rules (verbs, apiGroups, resources incl. `pods/exec` and `*/scale`,
// resourceNames, nonResourceURLs, `*`) and its "allowed by" reasons; the system:masters group is always
// allowed. Also builds (Self)SubjectAccessReview and SelfSubjectRulesReview answers and the 403 message.
// Aggregated ClusterRoles (aggregationRule) are not expanded.

const RBAC = 'rbac.authorization.k8s.io/v1';

function list(store, kind, namespace) {
  try {
    return store.list(RBAC, kind, namespace);
  } catch {
    return [];
  }
}

function subjectMatches(subject, user, bindingNamespace) {
  switch (subject.kind) {
    case 'User': return subject.name === user.name;
    case 'Group': return (user.groups || []).includes(subject.name);
    case 'ServiceAccount':
      return user.name === `system:serviceaccount:${subject.namespace || bindingNamespace}:${subject.name}`;
    default: return false;
  }
}

function describeSubject(subject, bindingNamespace) {
  if (subject.kind === 'ServiceAccount') return `ServiceAccount "${subject.name}/${subject.namespace || bindingNamespace}"`;
  return `${subject.kind} "${subject.name}"`;
}

const has = (list, v) => (list || []).includes('*') || (list || []).includes(v);

function resourceMatches(rule, attrs) {
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  return (rule.resources || []).some((r) => r === '*' || r === combined ||
    (attrs.subresource && r.startsWith('*/') && combined.endsWith(r.slice(1))));
}

function nonResourceMatches(rule, path) {
  return (rule.nonResourceURLs || []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

function ruleAllows(rule, attrs) {
  if (!has(rule.verbs, attrs.verb)) return false;
  if (attrs.nonResource) return nonResourceMatches(rule, attrs.path);
  if (!has(rule.apiGroups, attrs.group || '')) return false;
  if (!resourceMatches(rule, attrs)) return false;
  return !(rule.resourceNames && rule.resourceNames.length) || rule.resourceNames.includes(attrs.name);
}

function roleRules(store, roleRef, namespace) {
  const role = roleRef.kind === 'ClusterRole'
    ? store.get(RBAC, 'ClusterRole', '', roleRef.name)
    : store.get(RBAC, 'Role', namespace, roleRef.name);
  return (role && role.rules) || [];
}

// Every (binding, subject, rules) that applies to `user` in `namespace` (cluster bindings first).
function applicableBindings(store, user, namespace) {
  const out = [];
  for (const b of list(store, 'ClusterRoleBinding')) {
    const subject = (b.subjects || []).find((s) => subjectMatches(s, user, ''));
    if (subject) out.push({ describe: `ClusterRoleBinding "${b.metadata.name}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject, '')}`, rules: roleRules(store, b.roleRef, '') });
  }
  if (namespace) {
    for (const b of list(store, 'RoleBinding', namespace)) {
      const subject = (b.subjects || []).find((s) => subjectMatches(s, user, b.metadata.namespace));
      if (subject) {
        out.push({
          describe: `RoleBinding "${b.metadata.name}/${b.metadata.namespace}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject, b.metadata.namespace)}`,
          rules: roleRules(store, b.roleRef, b.metadata.namespace),
        });
      }
    }
  }
  return out;
}

// attrs: {verb, group, resource, subresource, name, namespace} or {nonResource: true, path, verb}
function authorize(store, user, attrs) {
  for (const b of applicableBindings(store, user, attrs.nonResource ? '' : attrs.namespace)) {
    if (b.rules.some((r) => ruleAllows(r, attrs))) return { allowed: true, reason: `RBAC: allowed by ${b.describe}` };
  }
  if ((user.groups || []).includes('system:masters')) return { allowed: true, reason: '' };
  return { allowed: false, reason: '' };
}

function forbiddenMessage(user, attrs) {
  if (attrs.nonResource) return `forbidden: User "${user.name}" cannot ${attrs.verb} path "${attrs.path}"`;
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const what = attrs.group ? `${attrs.resource}.${attrs.group}` : attrs.resource;
  const subject = attrs.name ? `${what} "${attrs.name}"` : what;
  const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  return `${subject} is forbidden: User "${user.name}" cannot ${attrs.verb} resource "${combined}" in API group "${attrs.group || ''}" ${scope}`;
}

function userFromSpec(spec) {
  return { name: spec.user || '', groups: (spec.groups || []).slice(), uid: spec.uid, extra: spec.extra };
}

function attrsFromSpec(spec) {
  if (spec.nonResourceAttributes) {
    return { nonResource: true, path: spec.nonResourceAttributes.path, verb: spec.nonResourceAttributes.verb };
  }
  const r = spec.resourceAttributes || {};
  return { verb: r.verb, group: r.group || '', resource: r.resource, subresource: r.subresource, name: r.name, namespace: r.namespace };
}

function reviewStatus(store, user, attrs) {
  const d = authorize(store, user, attrs);
  const status = { allowed: d.allowed };
  if (d.reason) status.reason = d.reason;
  return status;
}

function rulesReview(store, user, namespace) {
  const resourceRules = [];
  const nonResourceRules = [];
  for (const b of applicableBindings(store, user, namespace)) {
    for (const r of b.rules) {
      if (r.nonResourceURLs) nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
      else resourceRules.push(Object.fromEntries(Object.entries({ verbs: r.verbs, apiGroups: r.apiGroups, resources: r.resources, resourceNames: r.resourceNames }).filter(([, v]) => v)));
    }
  }
  return { resourceRules, nonResourceRules, incomplete: false };
}

module.exports = { authorize, forbiddenMessage, reviewStatus, rulesReview, userFromSpec, attrsFromSpec, ruleAllows };
