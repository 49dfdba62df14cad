'use strict';
// S3 errors as the lab's Spaces front answers them: an Error carrying the HTTP status, the S3 code and the
// extra elements S3 puts in its XML body, and the function that writes that body. It does not decide when an
// error happens.

const crypto = require('crypto');

class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

function xmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]));
}

function newRequestId() {
  return crypto.randomBytes(8).toString('hex').toUpperCase();
}

function errorXml(err, requestId, resource) {
  const extra = Object.entries(err.extra || {})
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
    .join('');
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message>${extra}` +
    (resource ? `<Resource>${xmlEscape(resource)}</Resource>` : '') +
    `<RequestId>${requestId}</RequestId></Error>`;
}

// Answer `err` on `res`; closes the connection when the request body was not read, so that an unread upload
// does not confuse the next request on a kept-alive connection.
function sendS3Error(req, res, err, { requestId = newRequestId(), resource, bodyUnread = false } = {}) {
  if (res.headersSent) { res.destroy(); return; }
  const body = errorXml(err, requestId, resource);
  const headers = {
    'content-type': 'application/xml',
    'x-amz-request-id': requestId,
    'content-length': req.method === 'HEAD' ? undefined : Buffer.byteLength(body),
  };
  if (bodyUnread) headers.connection = 'close';
  for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
  res.writeHead(err.status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

module.exports = { S3Error, sendS3Error, errorXml, newRequestId };
