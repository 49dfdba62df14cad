// The few shapes of CRD `x-kubernetes-validations` (CEL) rules that are plain field-presence tests —
// `!has(self.a)` and `!(has(self.a) && has(self.b))`, as in the CNPG and barman-cloud CRDs — evaluated and
// reported like the real server. Every other rule is not evaluated (the lab has no CEL interpreter) and passes.
'use strict';
const E = require('./errors');

const IDENT = '([A-Za-z_][A-Za-z0-9_]*)';
const NOT_HAS = new RegExp(`^!has\\(self\\.${IDENT}\\)$`);
const NOT_BOTH = new RegExp(`^!\\(has\\(self\\.${IDENT}\\) && has\\(self\\.${IDENT}\\)\\)$`);

const has = (self, key) => Object.prototype.hasOwnProperty.call(self, key);

// true / false for a rule this module understands, undefined for any other.
function evaluate(rule, self) {
  const text = String(rule || '').trim();
  let m = NOT_HAS.exec(text);
  if (m) return !has(self, m[1]);
  m = NOT_BOTH.exec(text);
  if (m) return !(has(self, m[1]) && has(self, m[2]));
  return undefined;
}

function failure(rule, path, type) {
  const field = rule.fieldPath ? path + rule.fieldPath : path;
  const message = rule.message || `failed rule: ${rule.rule}`;
  if (rule.reason === 'FieldValueForbidden') return E.forbidden(field, message);
  if (rule.reason === 'FieldValueRequired') return E.required(field, message);
  if (rule.reason === 'FieldValueDuplicate') return E.fieldError('FieldValueDuplicate', field, type, message);
  return E.invalid(field, type, message);
}

// Check the rules of an object node against its value; failures are pushed onto `causes`.
function check(self, rules, path, causes) {
  for (const rule of rules) {
    if (evaluate(rule.rule, self) === false) causes.push(failure(rule, path, 'object'));
  }
}

module.exports = { check, evaluate };
