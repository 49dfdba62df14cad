// HTTP plumbing of the emulated DigitalOcean API: the error type handlers throw, JSON/YAML
// responses, and request body reading. It knows DO's error body shape ({id, message, request_id})
// and nothing about resources or routing.
'use strict';

const ERROR_IDS = {
  400: 'bad_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'request_entity_too_large',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  500: 'server_error',
  503: 'service_unavailable',
};

const MAX_BODY_BYTES = 1024 * 1024;

class ApiError extends Error {
  constructor(status, message, id) {
    super(message);
    this.status = status;
    this.id = id || ERROR_IDS[status] || 'error';
  }
}

function notFound(message) {
  return new ApiError(404, message || 'The resource you were accessing could not be found.');
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendText(res, status, contentType, text) {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendNoContent(res) {
  res.writeHead(204);
  res.end();
}

function sendError(res, err, requestId) {
  sendJson(res, err.status, { id: err.id, message: err.message, request_id: requestId });
}

// Resolves to the parsed JSON body, or undefined when the request has none.
function readJsonBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, 'request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new ApiError(400, `unable to parse request body: ${e.message}`));
      }
    });
  });
}

function isoNow(ms = Date.now()) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

module.exports = { ApiError, notFound, sendJson, sendText, sendNoContent, sendError, readJsonBody, isoNow };
