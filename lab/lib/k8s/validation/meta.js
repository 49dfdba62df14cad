// Object metadata rules of the real API server (apimachinery's ValidateObjectMeta and util/validation): name syntax
// per kind, generateName, namespace, label and annotation keys and values, finalizers. Messages are the server's own
// strings. It does not check types (the schema walker does) nor anything outside metadata.
'use strict';
const E = require('./errors');

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + '(\\.' + DNS1123_LABEL_FMT + ')*';
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE_FMT = '(' + QUALIFIED_NAME_FMT + ')?';
const CONFIG_KEY_FMT = '[-._a-zA-Z0-9]+';

const anchored = (fmt) => new RegExp('^(?:' + fmt + ')$');
const RE = {
  label: anchored(DNS1123_LABEL_FMT),
  subdomain: anchored(DNS1123_SUBDOMAIN_FMT),
  dns1035: anchored(DNS1035_LABEL_FMT),
  qualified: anchored(QUALIFIED_NAME_FMT),
  labelValue: anchored(LABEL_VALUE_FMT),
  configKey: anchored(CONFIG_KEY_FMT),
};

const maxLenError = (n) => `must be no more than ${n} characters`;

function regexError(msg, fmt, ...examples) {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

const LABEL_MSG = regexError(
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
  DNS1123_LABEL_FMT, 'my-name', '123-abc');
const SUBDOMAIN_MSG = regexError(
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  DNS1123_SUBDOMAIN_FMT, 'example.com');
const DNS1035_MSG = regexError(
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
  DNS1035_LABEL_FMT, 'my-name', 'abc-123');
const QUALIFIED_MSG = regexError(
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc');
const LABEL_VALUE_MSG = regexError(
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345');
const CONFIG_KEY_MSG = regexError(
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.'", CONFIG_KEY_FMT,
  'key.name', 'KEY_NAME', 'key-name');

function isDNS1123Label(v) {
  const errs = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!RE.label.test(v)) errs.push(RE.subdomain.test(v) ? 'must not contain dots' : LABEL_MSG);
  return errs;
}

function isDNS1123Subdomain(v) {
  const errs = [];
  if (v.length > 253) errs.push(maxLenError(253));
  if (!RE.subdomain.test(v)) errs.push(SUBDOMAIN_MSG);
  return errs;
}

function isDNS1035Label(v) {
  const errs = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!RE.dns1035.test(v)) errs.push(DNS1035_MSG);
  return errs;
}

function isPathSegmentName(v) {
  if (v === '.' || v === '..') return [`may not be '${v}'`];
  return ['/', '%'].filter((c) => v.includes(c)).map((c) => `may not contain '${c}'`);
}

function isQualifiedName(value) {
  const parts = value.split('/');
  const errs = [];
  if (parts.length > 2) {
    return ['a qualified name ' + QUALIFIED_MSG + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    if (parts[0].length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(parts[0]).map((m) => 'prefix part ' + m));
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part ' + maxLenError(63));
  if (!RE.qualified.test(name)) errs.push('name part ' + QUALIFIED_MSG);
  return errs;
}

function isValidLabelValue(v) {
  const errs = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!RE.labelValue.test(v)) errs.push(LABEL_VALUE_MSG);
  return errs;
}

function isConfigMapKey(v) {
  const errs = [];
  if (v.length > 253) errs.push(maxLenError(253));
  if (!RE.configKey.test(v)) errs.push(CONFIG_KEY_MSG);
  if (v === '.') errs.push("must not be '.'");
  else if (v === '..') errs.push("must not be '..'");
  else if (v.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

// A generateName prefix may end in '-': the server appends random characters before checking the final name.
const maskTrailingDash = (v) => (v.length > 1 && v.endsWith('-') ? v.slice(0, -1) + 'a' : v);

const NAME_RULES = {
  label: isDNS1123Label,
  subdomain: isDNS1123Subdomain,
  dns1035: isDNS1035Label,
  pathSegment: isPathSegmentName,
};

// Which name rule the real server applies to each built-in kind; everything else (custom resources included)
// must be a DNS-1123 subdomain.
const NAME_RULE_BY_KIND = {
  Namespace: 'label',
  Service: 'dns1035',
  Role: 'pathSegment',
  ClusterRole: 'pathSegment',
  RoleBinding: 'pathSegment',
  ClusterRoleBinding: 'pathSegment',
};

const nameRuleFor = (kind) => NAME_RULE_BY_KIND[kind] || 'subdomain';

function validateName(kind, meta, errs) {
  const rule = NAME_RULES[nameRuleFor(kind)];
  if (typeof meta.generateName === 'string' && meta.generateName.length > 0) {
    for (const msg of rule(maskTrailingDash(meta.generateName))) {
      errs.push(E.invalid('metadata.generateName', meta.generateName, msg));
    }
  }
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (name.length === 0) {
    if (!meta.generateName) errs.push(E.required('metadata.name', 'name or generateName is required'));
    return;
  }
  for (const msg of rule(name)) errs.push(E.invalid('metadata.name', name, msg));
}

function validateLabels(labels, field, errs) {
  for (const key of Object.keys(labels).sort()) {
    for (const msg of isQualifiedName(key)) errs.push(E.invalid(field, key, msg));
    const value = labels[key];
    if (typeof value !== 'string') continue;
    for (const msg of isValidLabelValue(value)) errs.push(E.invalid(field, value, msg));
  }
}

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

function validateAnnotations(annotations, field, errs) {
  let total = 0;
  for (const key of Object.keys(annotations).sort()) {
    for (const msg of isQualifiedName(key.toLowerCase())) errs.push(E.invalid(field, key, msg));
    total += key.length + String(annotations[key] ?? '').length;
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(E.tooLong(field, TOTAL_ANNOTATION_SIZE_LIMIT));
}

function validateFinalizers(finalizers, errs) {
  finalizers.forEach((f, i) => {
    if (typeof f !== 'string') return;
    for (const msg of isQualifiedName(f)) errs.push(E.invalid(`metadata.finalizers[${i}]`, f, msg));
  });
}

// ValidateObjectMeta for an object of `kind`; `meta` may be missing or malformed (the walker reports types).
function validateObjectMeta(kind, meta, errs) {
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) {
    errs.push(E.required('metadata.name', 'name or generateName is required'));
    return;
  }
  validateName(kind, meta, errs);
  if (typeof meta.namespace === 'string' && meta.namespace.length > 0) {
    for (const msg of isDNS1123Label(meta.namespace)) errs.push(E.invalid('metadata.namespace', meta.namespace, msg));
  }
  if (isPlainObject(meta.labels)) validateLabels(meta.labels, 'metadata.labels', errs);
  if (isPlainObject(meta.annotations)) validateAnnotations(meta.annotations, 'metadata.annotations', errs);
  if (Array.isArray(meta.finalizers)) validateFinalizers(meta.finalizers, errs);
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

module.exports = {
  isDNS1123Label, isDNS1123Subdomain, isDNS1035Label, isPathSegmentName, isQualifiedName, isValidLabelValue,
  isConfigMapKey, validateObjectMeta, validateLabels, nameRuleFor, isPlainObject,
};
