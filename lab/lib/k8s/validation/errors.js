// Field errors shaped like k8s.io/apimachinery/pkg/util/validation/field: each one becomes a StatusCause
// {reason, message, field}, with `message` rendered as the real server's ErrorBody ("Invalid value: 3: ...").
// It only builds messages; it decides nothing about validity.
'use strict';

const TYPE_TEXT = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueTypeInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueNotFound: 'Not found',
};

// The types whose ErrorBody never prints the bad value.
const VALUELESS = new Set(['FieldValueRequired', 'FieldValueForbidden', 'FieldValueTooLong']);

function goQuote(s) {
  return JSON.stringify(String(s));
}

// Go's %#v of a decoded JSON value, as the server prints a non-scalar bad value.
function goSyntax(v) {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[]interface {}{' + v.map(goSyntax).join(', ') + '}';
  const keys = Object.keys(v).sort();
  return 'map[string]interface {}{' + keys.map((k) => goQuote(k) + ':' + goSyntax(v[k])).join(', ') + '}';
}

// A value the server prints through Go's %#v of a typed value (map[string]string{...}), pre-rendered.
class GoRepr {
  constructor(text) { this.text = text; }
}
const goRepr = (text) => new GoRepr(text);

function stringMapRepr(m) {
  if (!m || typeof m !== 'object') return goRepr('map[string]string(nil)');
  return goRepr('map[string]string{' + Object.keys(m).sort().map((k) => goQuote(k) + ':' + goQuote(m[k])).join(', ') + '}');
}

const cannotUnmarshal = (what, go, goType) =>
  `json: cannot unmarshal ${what} into Go struct field ${go.struct}.${go.path} of type ${goType}`;

function renderValue(v) {
  if (v instanceof GoRepr) return v.text;
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return goSyntax(v);
}

function fieldError(reason, field, value, detail) {
  let message = TYPE_TEXT[reason] || 'Invalid value';
  if (!VALUELESS.has(reason) && value !== OMIT) message += ': ' + renderValue(value);
  if (detail) message += ': ' + detail;
  return { reason, message, field };
}

const OMIT = Symbol('omit value');

const required = (field, detail) => fieldError('FieldValueRequired', field, OMIT, detail);
const invalid = (field, value, detail) => fieldError('FieldValueInvalid', field, value, detail);
const typeInvalid = (field, value, detail) => fieldError('FieldValueTypeInvalid', field, value, detail);
const duplicate = (field, value) => fieldError('FieldValueDuplicate', field, value, '');
const forbidden = (field, detail) => fieldError('FieldValueForbidden', field, OMIT, detail);
const tooLong = (field, max) =>
  fieldError('FieldValueTooLong', field, OMIT, `may not be more than ${max} byte${max === 1 ? '' : 's'}`);
const tooMany = (field, actual, max) =>
  fieldError('FieldValueTooMany', field, actual, `must have at most ${max} items`);

function notSupported(field, value, supported) {
  const detail = supported.length ? 'supported values: ' + supported.map((s) => goQuote(s)).join(', ') : '';
  return fieldError('FieldValueNotSupported', field, value, detail);
}

// "field: body", the form the server joins into a Status message.
const errorString = (cause) => (cause.field ? `${cause.field}: ${cause.message}` : cause.message);

module.exports = {
  OMIT, goQuote, goRepr, stringMapRepr, cannotUnmarshal, goSyntax, fieldError, required, invalid, typeInvalid, duplicate, forbidden, tooLong, tooMany,
  notSupported, errorString,
};
