'use strict';
// The lab's cluster DNS server, the program of the kube-dns pods (image `coredns`): UDP and TCP on port 53 of the
// pod, answering A queries from the zone the daemon keeps in the file named by LAB_DNS_ZONE (JSON: name → list of
// IPv4 addresses, re-read when it changes): Services, headless Services' endpoints and pod hostnames under
// cluster.local. Other names are NXDOMAIN: nothing is forwarded off the machine. AAAA of a known name is empty.
//
// Usage (inside the pod): LAB_DNS_ZONE=FILE node dns.js

const fs = require('fs');
const dgram = require('dgram');
const net = require('net');

const zoneFile = process.env.LAB_DNS_ZONE;
let zone = {};
let zoneStamp = 0;

function reloadZone() {
  try {
    const stamp = fs.statSync(zoneFile).mtimeMs;
    if (stamp === zoneStamp) return;
    zone = JSON.parse(fs.readFileSync(zoneFile, 'utf8'));
    zoneStamp = stamp;
  } catch { /* keep the last zone */ }
}

function readName(buf, offset) {
  const labels = [];
  let pos = offset;
  let end = null;
  for (let guard = 0; guard < 128; guard++) {
    const len = buf[pos];
    if (len === 0) { pos += 1; break; }
    if ((len & 0xc0) === 0xc0) { if (end === null) end = pos + 2; pos = ((len & 0x3f) << 8) | buf[pos + 1]; continue; }
    labels.push(buf.toString('ascii', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), next: end === null ? pos : end };
}

// Builds the answer to one query message (null when it cannot be parsed).
function answer(query) {
  if (query.length < 12) return null;
  reloadZone();
  const id = query.readUInt16BE(0);
  const { name, next } = readName(query, 12);
  const type = query.readUInt16BE(next);
  const question = query.subarray(12, next + 4);
  const known = Object.prototype.hasOwnProperty.call(zone, name);
  const ips = known && type === 1 ? zone[name] : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | (known ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ips.length, 6);
  const answers = ips.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(5, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((part, i) => rr.writeUInt8(Number(part), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...answers]);
}

function main() {
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const out = answer(msg);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  udp.bind(53, '0.0.0.0');
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const out = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (out) { const len = Buffer.alloc(2); len.writeUInt16BE(out.length); sock.write(Buffer.concat([len, out])); }
      }
    });
    sock.on('error', () => {});
  });
  tcp.listen(53, '0.0.0.0');
  process.stdout.write('lab cluster DNS listening on :53 (udp, tcp)\n');
}

if (require.main === module) main();

module.exports = { answer };
