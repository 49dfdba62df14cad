// String and number formats of OpenAPI schemas, checked as the real server does: for built-in kinds a bad value
// fails JSON decoding into the Go type (base64 []byte, metav1.Time, int32 ranges); for custom resources the
// formats kube-openapi knows are checked ("must be of type date-time"). Unknown formats are accepted.
'use strict';
const E = require('./errors');

const BASE64_CHARS = /[A-Za-z0-9+/]/;

// Index of the first byte Go's base64.StdEncoding rejects, or -1 when the text decodes.
function base64ErrorOffset(text) {
  const s = text.replace(/[\r\n]/g, '');
  let i = 0;
  for (; i < s.length && BASE64_CHARS.test(s[i]); i++);
  const dataLen = i;
  if (i < s.length) {
    const pad = s.slice(i);
    const need = (4 - (dataLen % 4)) % 4;
    const padOk = /^=+$/.test(pad) && pad.length === need && need > 0 && need < 3;
    if (!padOk) return pad[0] === '=' && dataLen % 4 < 2 ? dataLen - (dataLen % 4) : i;
    return -1;
  }
  return dataLen % 4 === 0 ? -1 : dataLen - (dataLen % 4);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DATE_TIME_LOOSE = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

function isRFC3339(s) {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 61;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const isIPv6 = (s) => /^[0-9A-Fa-f:.]+$/.test(s) && s.includes(':') && (s.match(/::/g) || []).length <= 1;

// The formats kube-openapi's strfmt registry validates for custom resources.
const CRD_FORMATS = {
  'date-time': (s) => DATE_TIME_LOOSE.test(s),
  date: (s) => /^\d{4}-\d{2}-\d{2}$/.test(s),
  byte: (s) => base64ErrorOffset(s) < 0,
  uuid: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s),
  ipv4: (s) => IPV4.test(s),
  ipv6: isIPv6,
  cidr: (s) => /^[^/]+\/\d{1,3}$/.test(s) && (IPV4.test(s.split('/')[0]) || isIPv6(s.split('/')[0])),
  hostname: (s) => s.length <= 253 && /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\.?$/.test(s),
  email: (s) => /^[^@\s]+@[^@\s]+$/.test(s),
  uri: (s) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(s),
  mac: (s) => /^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/.test(s),
  duration: (s) => /^([-+]?\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$/.test(s.replace(/\s+/g, '')),
};

const INT_RANGES = { int32: [-(2 ** 31), 2 ** 31 - 1], int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] };

function checkBuiltin(v, node, path, go, walk) {
  if (node.format === 'byte' && typeof v === 'string') {
    const at = base64ErrorOffset(v);
    if (at >= 0) {
      const detail = `illegal base64 data at input byte ${at}`;
      walk.decodeErrors.push(detail);
      walk.causes.push(E.invalid(path, v, detail));
    }
  } else if (node.format === 'date-time' && typeof v === 'string' && !isRFC3339(v)) {
    const detail = `parsing time ${E.goQuote(v)} as "2006-01-02T15:04:05Z07:00": cannot parse ${E.goQuote(v)} as "2006"`;
    walk.decodeErrors.push(detail);
    walk.causes.push(E.invalid(path, v, detail));
  } else if (INT_RANGES[node.format] && Number.isInteger(v)) {
    const [lo, hi] = INT_RANGES[node.format];
    if (v < lo || v > hi) {
      walk.decodeErrors.push(E.cannotUnmarshal(`number ${v}`, go, node.format));
      walk.causes.push(E.invalid(path, v, `must be a valid ${node.format}`));
    }
  }
}

const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// resource.Quantity (built-in kinds): a string that does not parse fails decoding.
function checkQuantity(v, path, walk) {
  if (typeof v !== 'string' || QUANTITY.test(v)) return;
  walk.decodeErrors.push(QUANTITY_MSG);
  walk.causes.push(E.invalid(path, v, QUANTITY_MSG));
}

function checkCustom(v, node, path, walk) {
  const test = CRD_FORMATS[node.format];
  if (!test || typeof v !== 'string' || test(v)) return;
  walk.causes.push(E.typeInvalid(path, v, `${path} in body must be of type ${node.format}: ${E.goQuote(v)}`));
}

function check(v, node, path, go, walk) {
  if (walk.builtin) checkBuiltin(v, node, path, go, walk);
  else checkCustom(v, node, path, walk);
}

module.exports = { check, checkQuantity, base64ErrorOffset, isRFC3339 };
