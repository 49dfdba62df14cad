'use strict';
// Request bodies for the Spaces front: reads a body (plain, or aws-chunked with per-chunk signatures) into a
// spool that keeps small bodies in memory and spills large ones to a temporary file under the lab's directory,
// hashing as it goes, so the front can check x-amz-content-sha256 before anything reaches s3rver.
// It does not verify the request's own signature (sigv4.js) nor proxy (front.js).

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { S3Error } = require('./errors');
const { chunkStringToSign, sign, signaturesEqual, EMPTY_SHA256 } = require('./sigv4');

const MEMORY_LIMIT = 8 * 1024 * 1024;
const MAX_BODY = 5 * 1024 * 1024 * 1024; // S3's largest single PUT

class BodySpool {
  constructor(tmpDir) {
    this.tmpDir = tmpDir;
    this.chunks = [];
    this.size = 0;
    this.hash = crypto.createHash('sha256');
    this.file = null;
    this.fd = null;
  }

  write(buf) {
    this.size += buf.length;
    if (this.size > MAX_BODY) throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    this.hash.update(buf);
    if (this.fd === null && this.size > MEMORY_LIMIT) this.spill();
    if (this.fd !== null) fs.writeSync(this.fd, buf);
    else this.chunks.push(buf);
  }

  spill() {
    fs.mkdirSync(this.tmpDir, { recursive: true });
    this.file = path.join(this.tmpDir, `upload-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
    this.fd = fs.openSync(this.file, 'w', 0o600);
    for (const c of this.chunks) fs.writeSync(this.fd, c);
    this.chunks = [];
  }

  finish() {
    this.sha256 = this.hash.digest('hex');
    if (this.fd !== null) { fs.closeSync(this.fd); this.fd = -1; }
    return this;
  }

  // The whole body as a Buffer (for the small bodies the front rewrites; a body spilled to disk is refused).
  buffer() {
    if (this.file) throw new S3Error(400, 'MaxMessageLengthExceeded', 'Your request was too big.');
    return Buffer.concat(this.chunks);
  }

  static fromBuffer(tmpDir, buf) {
    const spool = new BodySpool(tmpDir);
    spool.write(buf);
    return spool.finish();
  }

  // Writes the body to `dest` (a writable) and ends it.
  pipeTo(dest) {
    if (this.file) {
      // opened now, so that cleanup() may unlink the file while it is still being sent
      const stream = fs.createReadStream(null, { fd: fs.openSync(this.file, 'r') });
      stream.on('error', (err) => dest.destroy(err));
      stream.pipe(dest);
    }
    else dest.end(Buffer.concat(this.chunks));
  }

  cleanup() {
    if (this.fd !== null && this.fd >= 0) { try { fs.closeSync(this.fd); } catch { /* already closed */ } this.fd = -1; }
    if (this.file) fs.rmSync(this.file, { force: true });
    this.file = null;
    this.chunks = [];
  }
}

// Parses aws-chunked framing ("HEX[;chunk-signature=SIG]\r\nDATA\r\n ... 0[;...]\r\n[trailers]\r\n"), passes
// the data to `sink(buf)`, and verifies each chunk's signature when `signing` ({key, scope, amzDate,
// seedSignature}) is given. Trailing headers are accepted but not verified.
class AwsChunkedDecoder {
  constructor(sink, signing) {
    this.sink = sink;
    this.signing = signing;
    this.previousSignature = signing ? signing.seedSignature : null;
    this.state = 'header';
    this.pending = Buffer.alloc(0);
    this.remaining = 0;
    this.chunkHash = null;
    this.chunkSignature = null;
    this.decodedSize = 0;
  }

  push(buf) {
    this.pending = this.pending.length ? Buffer.concat([this.pending, buf]) : buf;
    for (;;) {
      if (this.state === 'header') {
        const eol = this.pending.indexOf('\r\n');
        if (eol < 0) {
          if (this.pending.length > 4096) throw incomplete();
          return;
        }
        this.startChunk(this.pending.subarray(0, eol).toString('latin1'));
        this.pending = this.pending.subarray(eol + 2);
      } else if (this.state === 'data') {
        if (this.remaining === 0) { this.state = 'crlf'; continue; }
        if (!this.pending.length) return;
        const take = this.pending.subarray(0, Math.min(this.remaining, this.pending.length));
        this.pending = this.pending.subarray(take.length);
        this.remaining -= take.length;
        this.decodedSize += take.length;
        this.chunkHash.update(take);
        this.sink(take);
      } else if (this.state === 'crlf') {
        if (this.pending.length < 2) return;
        if (this.pending[0] !== 13 || this.pending[1] !== 10) throw incomplete();
        this.pending = this.pending.subarray(2);
        this.endChunk(this.chunkHash.digest('hex'));
        this.state = 'header';
      } else {
        this.pending = Buffer.alloc(0); // trailers: ignored
        return;
      }
    }
  }

  startChunk(line) {
    const [sizeText, ...extensions] = line.split(';');
    if (!/^[0-9a-fA-F]+$/.test(sizeText.trim())) throw incomplete();
    const size = parseInt(sizeText.trim(), 16);
    const sigExt = extensions.find((e) => e.trim().startsWith('chunk-signature='));
    this.chunkSignature = sigExt ? sigExt.trim().slice('chunk-signature='.length) : null;
    if (this.signing && !this.chunkSignature) throw incomplete();
    if (size === 0) {
      this.endChunk(EMPTY_SHA256);
      this.state = 'done';
      return;
    }
    this.remaining = size;
    this.chunkHash = crypto.createHash('sha256');
    this.state = 'data';
  }

  endChunk(chunkHash) {
    if (!this.signing) return;
    const { key, scope, amzDate } = this.signing;
    const toSign = chunkStringToSign(amzDate, scope, this.previousSignature, chunkHash);
    const expected = sign(key, toSign);
    if (!signaturesEqual(expected, this.chunkSignature)) {
      throw new S3Error(403, 'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        { StringToSign: toSign, SignatureProvided: this.chunkSignature });
    }
    this.previousSignature = expected;
  }

  end() {
    if (this.state !== 'done') throw incomplete();
  }
}

function incomplete() {
  return new S3Error(400, 'IncompleteBody', 'The request body is not valid aws-chunked encoding or ended early');
}

// Reads the whole body of `req` into a new spool; decodes aws-chunked bodies when `payloadHash` says
// STREAMING-*; checks a hex payload hash. Resolves the finished spool or rejects with an S3Error.
function readBody(req, { tmpDir, payloadHash, signing }) {
  const spool = new BodySpool(tmpDir);
  const streaming = /^STREAMING-/.test(payloadHash || '');
  const signedChunks = streaming && /^STREAMING-AWS4-HMAC-SHA256-PAYLOAD/.test(payloadHash);
  const decoder = streaming ? new AwsChunkedDecoder((b) => spool.write(b), signedChunks ? signing : null) : null;
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (err) => {
      if (failed) return;
      failed = true;
      spool.cleanup();
      reject(err);
    };
    req.on('data', (buf) => {
      if (failed) return;
      try { decoder ? decoder.push(buf) : spool.write(buf); } catch (err) { fail(err); }
    });
    req.on('end', () => {
      if (failed) return;
      try {
        if (decoder) decoder.end();
        spool.finish();
        if (/^[0-9a-f]{64}$/.test(payloadHash || '') && spool.sha256 !== payloadHash) {
          throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.",
            { ClientComputedContentSHA256: payloadHash, S3ComputedContentSHA256: spool.sha256 });
        }
        const declared = req.headers['x-amz-decoded-content-length'];
        if (decoder && declared !== undefined && Number(declared) !== spool.size) throw incomplete();
        resolve(spool);
      } catch (err) { fail(err); }
    });
    req.on('error', fail);
    req.on('aborted', () => fail(incomplete()));
  });
}

module.exports = { readBody, BodySpool, AwsChunkedDecoder };
