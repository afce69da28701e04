// Node's ws as a bench/ peer: echo and broadcast WebSocket server, one
// process (bench.py pins it to the server CPU), the protocol of
// bench/README.md ("broadcast:<payload>" sends <payload> to every open
// socket, the sender included; any other message is echoed with its type).
//
//     node bench/ws_node.js PORT
//
// ws comes from Debian's node-ws (/usr/share/nodejs/ws) unless NODE_PATH
// finds another. Compression stays off, as in the other peers.
'use strict';

let ws;
try {
  ws = require('ws');
} catch (e) {
  ws = require('/usr/share/nodejs/ws');
}

const port = Number(process.argv[2]);
const PREFIX = Buffer.from('broadcast:');
const wss = new ws.WebSocketServer({
  host: '127.0.0.1', port, backlog: 8192, perMessageDeflate: false,
  clientTracking: true,
});

wss.on('connection', (sock) => {
  sock.on('message', (data, isBinary) => {
    if (!isBinary && data.length >= PREFIX.length &&
        data.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) === 0) {
      const payload = data.toString('utf8', PREFIX.length);
      for (const c of wss.clients) {
        if (c.readyState === ws.OPEN) c.send(payload);
      }
      return;
    }
    sock.send(data, { binary: isBinary });
  });
  sock.on('error', () => {});
});
wss.on('listening', () => console.log('ws_node: listening on 127.0.0.1:' + port));
