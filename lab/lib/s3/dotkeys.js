'use strict';
// S3 keys are opaque strings: "a/../b" and "../../x" are valid keys, distinct from "b" and "x". s3rver stores an
// object as a file whose path is the key, and path.join resolves "." and ".." segments — a DELETE of "d/../k"
// removed the bucket's folder, a PUT of "../../x" wrote outside it. So the Spaces front renames, on the way to
// s3rver, every segment before the key's last "/" that is "." or ".." (or such a segment followed by MARKs, which
// keeps the renaming reversible) by appending MARK (U+E000, a private-use character), and renames back the keys
// s3rver answers with. The last segment needs nothing: s3rver makes it part of a file name ("x._S3rver_object").
// A prefix is renamed like a key (its last, possibly partial, segment is left alone), so "prefix" still selects
// what it selects in S3. This module rewrites paths, list parameters, copy sources, DeleteObjects bodies and XML
// answers; it does not proxy nor check signatures (front.js does).

const querystring = require('querystring');
const { S3Error } = require('./errors');

const MARK = '\uE000';
const RENAMED_INNER = /^\.{1,2}\uE000*$/; // inner segments that get one more MARK
const RENAMED_BACK = /^\.{1,2}\uE000+$/; // inner segments that lose one MARK
const MARK_ENTITY = /&#(?:x0*e000|0*57344);/gi;
const KEY_ELEMENTS = /<(Key|Prefix|Marker|NextMarker|StartAfter)>([^<]*)<\/\1>/g;
const LIST_PARAMS = ['prefix', 'marker', 'start-after'];

// Applies fn to every segment but the last.
function mapInnerSegments(key, fn) {
  const parts = key.split('/');
  for (let i = 0; i < parts.length - 1; i++) parts[i] = fn(parts[i]);
  return parts.join('/');
}

function needsRename(key) {
  const parts = key.split('/');
  return parts.slice(0, -1).some((s) => RENAMED_INNER.test(s));
}

function storedKey(key) {
  return mapInnerSegments(key, (s) => (RENAMED_INNER.test(s) ? s + MARK : s));
}

function clientKey(stored) {
  return mapInnerSegments(stored, (s) => (RENAMED_BACK.test(s) ? s.slice(0, -1) : s));
}

const encodeSegments = (key) => key.split('/').map(encodeURIComponent).join('/');

// The path to send s3rver for path-style `pathStyle` whose decoded key is `key`.
function upstreamPath(pathStyle, key) {
  if (!key || !needsRename(key)) return pathStyle;
  const rest = pathStyle.replace(/^\/+/, '');
  return `/${rest.slice(0, rest.indexOf('/'))}/${encodeSegments(storedKey(key))}`;
}

// The query to send s3rver: list parameters (prefix, marker, start-after) renamed like keys. s3rver reads the
// query with Node's querystring ('+' is a space), so values are read the same way here.
function upstreamQuery(rawQuery) {
  if (!rawQuery) return rawQuery;
  return rawQuery.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return pair;
    const name = querystring.unescape(pair.slice(0, eq).replace(/\+/g, ' '));
    const value = querystring.unescape(pair.slice(eq + 1).replace(/\+/g, ' '));
    if (!LIST_PARAMS.includes(name) || !needsRename(value)) return pair;
    return `${pair.slice(0, eq)}=${encodeURIComponent(storedKey(value))}`;
  }).join('&');
}

// x-amz-copy-source ("[/]bucket/key[?versionId=..]", percent-encoded) → {bucket, key, header to send s3rver}.
// s3rver reads the header with decodeURI, so a renamed source is sent encoded with encodeURI.
function copySource(header) {
  const text = String(header);
  const q = text.indexOf('?');
  const pathPart = (q < 0 ? text : text.slice(0, q)).replace(/^\/+/, '');
  let decoded;
  try { decoded = decodeURIComponent(pathPart); } catch { decoded = pathPart; }
  const slash = decoded.indexOf('/');
  const bucket = slash < 0 ? decoded : decoded.slice(0, slash);
  const key = slash < 0 ? '' : decoded.slice(slash + 1);
  const upstream = key && needsRename(key) ? `/${encodeURI(bucket)}/${encodeURI(storedKey(key))}` : text;
  return { bucket, key, upstream };
}

// ---- XML ----

function xmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]));
}

const NAMED = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

// XML character data → text; only XML's own entities and character references (anything else is malformed).
function xmlUnescape(s) {
  return s.replace(/&([^;&]*);?/g, (whole, body) => {
    if (!whole.endsWith(';')) throw malformedXml();
    if (NAMED[body]) return NAMED[body];
    const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(body);
    if (!m) throw malformedXml();
    const code = m[1] ? parseInt(m[1], 16) : Number(m[2]);
    if (code > 0x10ffff) throw malformedXml();
    return String.fromCodePoint(code);
  });
}

// Element content (text and CDATA sections, no markup) → text.
function elementText(content) {
  let out = '';
  let rest = content;
  for (;;) {
    const start = rest.indexOf('<![CDATA[');
    const text = start < 0 ? rest : rest.slice(0, start);
    if (text.includes('<')) throw malformedXml();
    out += xmlUnescape(text);
    if (start < 0) return out;
    const end = rest.indexOf(']]>', start);
    if (end < 0) throw malformedXml();
    out += rest.slice(start + 9, end);
    rest = rest.slice(end + 3);
  }
}

function malformedXml() {
  return new S3Error(400, 'MalformedXML',
    'The XML you provided was not well-formed or did not validate against our published schema');
}

// s3rver's XML reader trims values and decodes HTML entities; leading or trailing white space is therefore sent as
// character references, so that it reads exactly the key given.
function keyText(key) {
  return xmlEscape(key).replace(/^\s+|\s+$/g, (ws) => [...ws].map((c) => `&#${c.codePointAt(0)};`).join(''));
}

// A DeleteObjects body → the same request rebuilt in a plain form, keys renamed, so that what s3rver reads is
// exactly what was checked here. Comments, DOCTYPEs and unknown markup inside an <Object> are refused.
function deleteBody(text) {
  const body = text.replace(/^\uFEFF?\s*(<\?xml[^>]*\?>)?\s*/, '');
  const root = /^<Delete(\s[^>]*)?>([\s\S]*)<\/Delete>\s*$/.exec(body);
  if (!root || /<!--|<!DOCTYPE|<\?/i.test(body)) throw malformedXml();
  const objects = [];
  let quiet = null;
  const rest = root[2].replace(/<Quiet>\s*(true|false)\s*<\/Quiet>/, (_, q) => { quiet = q; return ''; })
    .replace(/<Object>([\s\S]*?)<\/Object>/g, (_, inner) => { objects.push(deleteObject(inner)); return ''; });
  if (rest.trim() || !objects.length) throw malformedXml();
  return '<?xml version="1.0" encoding="UTF-8"?>\n<Delete>' + (quiet ? `<Quiet>${quiet}</Quiet>` : '') +
    objects.map(({ key, versionId }) => `<Object><Key>${keyText(storedKey(key))}</Key>` +
      (versionId !== undefined ? `<VersionId>${xmlEscape(versionId)}</VersionId>` : '') + '</Object>').join('') +
    '</Delete>';
}

function deleteObject(inner) {
  let key;
  let versionId;
  const rest = inner
    .replace(/<Key>([\s\S]*?)<\/Key>/, (_, t) => { key = elementText(t); return ''; })
    .replace(/<VersionId>([\s\S]*?)<\/VersionId>/, (_, t) => { versionId = elementText(t); return ''; });
  if (key === undefined || rest.trim()) throw malformedXml();
  return { key, versionId };
}

// An XML answer of s3rver → the client's: stored keys renamed back in <Key>, <Prefix>, <Marker>, <NextMarker> and
// <StartAfter> (s3rver writes MARK as itself in listings and as &#xE000; in errors). When the client's `prefix`
// itself contains MARK, entries a renamed key matched by accident are dropped. Unchanged when there is no MARK.
function clientXml(text, { prefix } = {}) {
  MARK_ENTITY.lastIndex = 0;
  if (!text.includes(MARK) && !MARK_ENTITY.test(text)) return text;
  let out = text.replace(KEY_ELEMENTS, (whole, tag, value) => {
    const renamed = clientKey(value.replace(MARK_ENTITY, MARK));
    return `<${tag}>${renamed}</${tag}>`;
  });
  if (prefix && prefix.includes(MARK)) out = dropOutsidePrefix(out, prefix);
  return out;
}

function dropOutsidePrefix(text, prefix) {
  let dropped = 0;
  const keep = (value) => {
    let key;
    try { key = elementText(value); } catch { return true; }
    if (key.startsWith(prefix)) return true;
    dropped++;
    return false;
  };
  let out = text.replace(/<Contents>[\s\S]*?<\/Contents>/g, (block) => {
    const m = /<Key>([^<]*)<\/Key>/.exec(block);
    return !m || keep(m[1]) ? block : '';
  });
  out = out.replace(/<CommonPrefixes>\s*<Prefix>([^<]*)<\/Prefix>\s*<\/CommonPrefixes>/g,
    (block, value) => (keep(value) ? block : ''));
  if (dropped) out = out.replace(/<KeyCount>(\d+)<\/KeyCount>/, (_, n) => `<KeyCount>${Math.max(0, Number(n) - dropped)}</KeyCount>`);
  return out;
}

module.exports = {
  MARK, needsRename, storedKey, clientKey, upstreamPath, upstreamQuery, copySource, deleteBody, clientXml,
  xmlEscape, elementText,
};
