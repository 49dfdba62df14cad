'use strict';
// IPv4 CIDR arithmetic for the lab's ranges: the n-th host address of a range, and picking the first free one.

function toInt(ip) {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function toIP(n) {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function parse(cidr) {
  const [ip, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return { base: Math.floor(toInt(ip) / size) * size, size };
}

// The first address of `cidr` (skipping the network and broadcast addresses and `.0`/`.255` ones) not in `used`.
function firstFree(cidr, used) {
  const { base, size } = parse(cidr);
  for (let n = 1; n < size - 1; n++) {
    const ip = toIP(base + n);
    const last = (base + n) % 256;
    if (last !== 0 && last !== 255 && !used.has(ip)) return ip;
  }
  return null;
}

function contains(cidr, ip) {
  const { base, size } = parse(cidr);
  const n = toInt(ip);
  return n >= base && n < base + size;
}

module.exports = { firstFree, contains, toInt, toIP };
