'use strict';
// pods/NAME/portforward over WebSocket with the `v4.channel.k8s.io` subprotocol, as the kubelet serves
// it: for the i-th requested port, channel 2i carries data and channel 2i+1 errors; every frame starts
// with its channel byte; the first frame on each channel is the port as little-endian uint16. Each port
// is a TCP connection to the pod's status.podIP at that port. SPDY (kubectl's own port-forward) is not
// spoken.

const net = require('net');
const { WebSocketServer, WebSocket } = require('ws');

const PROTOCOLS = ['v4.channel.k8s.io'];

function createPortForwardServer() {
  return new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) || false,
  });
}

function requestedPorts(searchParams) {
  const ports = searchParams.getAll('ports').flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  for (const p of ports) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`invalid port value "${p}"`);
  }
  return ports.map(Number);
}

function frame(channel, payload) {
  return Buffer.concat([Buffer.from([channel]), payload]);
}

function portPrefix(channel, port) {
  return Buffer.from([channel, port & 0xff, (port >> 8) & 0xff]);
}

// pod: the stored Pod (status.podIP set); ports: numbers.
function forward(wss, req, socket, head, pod, ports) {
  wss.handleUpgrade(req, socket, head, (ws) => {
    const conns = [];
    let open = ports.length;
    const send = (buf) => { if (ws.readyState === WebSocket.OPEN) ws.send(buf); };
    ports.forEach((port, i) => {
      const dataCh = 2 * i;
      const errCh = 2 * i + 1;
      send(portPrefix(dataCh, port));
      send(portPrefix(errCh, port));
      const tcp = net.connect({ host: pod.status.podIP, port });
      conns[i] = tcp;
      tcp.on('data', (chunk) => send(frame(dataCh, chunk)));
      tcp.on('error', (err) => {
        const why = err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message;
        send(frame(errCh, Buffer.from(`error forwarding port ${port} to pod ${pod.metadata.name}, uid ${pod.metadata.uid}: dial tcp4 ${pod.status.podIP}:${port}: ${why}`)));
      });
      tcp.on('close', () => {
        open -= 1;
        if (open === 0 && ws.readyState === WebSocket.OPEN) ws.close(1000);
      });
    });
    ws.on('message', (msg) => {
      const buf = Buffer.isBuffer(msg) ? msg : Buffer.from(msg);
      if (buf.length < 1) return;
      const ch = buf[0];
      const conn = conns[ch >> 1];
      if (conn && ch % 2 === 0 && buf.length > 1) conn.write(buf.subarray(1));
    });
    ws.on('close', () => conns.forEach((c) => c.destroy()));
    ws.on('error', () => conns.forEach((c) => c.destroy()));
  });
}

module.exports = { createPortForwardServer, requestedPorts, forward };
