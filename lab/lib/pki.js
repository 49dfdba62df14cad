'use strict';
// The lab's small PKI: a CA, a server certificate for 127.0.0.1/localhost and a client certificate
// (CN=lab-admin, O=system:masters), made with the openssl command line under DIR/pki/ and reused when
// they already exist, so `lab up` twice keeps the same kubeconfig valid. Also keeps the bearer token.
// Private keys only ever travel as file paths on argv, never as contents. Not a general-purpose CA:
// no revocation, no rotation.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const VALID_DAYS = '3650';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir, name) {
  const file = path.join(dir, name);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  fs.chmodSync(file, 0o600);
  return file;
}

function randomSerial() {
  return '0x' + crypto.randomBytes(12).toString('hex');
}

function makeCA(dir) {
  const key = newKey(dir, 'ca.key');
  const ext = path.join(dir, 'ca.ext');
  fs.writeFileSync(ext, [
    '[v3_ca]',
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    'subjectKeyIdentifier=hash',
    '',
  ].join('\n'));
  openssl(['req', '-x509', '-new', '-key', key, '-subj', '/CN=lab-ca', '-days', VALID_DAYS,
    '-set_serial', randomSerial(), '-config', ext, '-extensions', 'v3_ca', '-out', path.join(dir, 'ca.crt')], dir);
}

function signLeaf(dir, name, subject, extLines) {
  const key = newKey(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr], dir);
  fs.writeFileSync(ext, extLines.join('\n') + '\n');
  openssl(['x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'),
    '-set_serial', randomSerial(), '-days', VALID_DAYS, '-extfile', ext, '-out', path.join(dir, `${name}.crt`)], dir);
  fs.unlinkSync(csr);
}

function makeServerCert(dir) {
  signLeaf(dir, 'server', '/CN=lab-apiserver', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
  ]);
}

function makeClientCert(dir) {
  signLeaf(dir, 'client', '/O=system:masters/CN=lab-admin', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ]);
}

function ensureToken(dir) {
  const file = path.join(dir, 'token');
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, crypto.randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

const exists = (dir, names) => names.every((n) => fs.existsSync(path.join(dir, n)));

// Returns PEM strings: {caCert, serverCert, serverKey, clientCert, clientKey, token}. A given token is used
// as is (and not written); otherwise one is made once and kept in DIR/pki/token.
function ensurePki(labDir, { token } = {}) {
  const dir = path.join(labDir, 'pki');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!exists(dir, ['ca.crt', 'ca.key'])) {
    makeCA(dir);
    for (const n of ['server.crt', 'client.crt']) fs.rmSync(path.join(dir, n), { force: true });
  }
  if (!exists(dir, ['server.crt', 'server.key'])) makeServerCert(dir);
  if (!exists(dir, ['client.crt', 'client.key'])) makeClientCert(dir);
  const read = (n) => fs.readFileSync(path.join(dir, n), 'utf8');
  return {
    caCert: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    token: token || ensureToken(dir),
  };
}

module.exports = { ensurePki };
