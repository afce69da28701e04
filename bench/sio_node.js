// Node's socket.io 4.8 server as a bench/ peer for sio-echo-50: one
// process (bench.py pins it to the server CPU), the event "echo" acked
// with its arguments, as contrib/apps/sio_chat.c does.
//
//     NODE_PATH=build/npm-socketio-server/node_modules node bench/sio_node.js PORT
//
// socket.io comes from npm: bench.py installs it into a cache folder of the
// build directory (Debian 12 packages no socket.io server). WebSocket
// compression stays off (socket.io 4's default), as in the other peers.
'use strict';

const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const io = new Server({ perMessageDeflate: false, serveClient: false });

io.on('connection', (socket) => {
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
});
io.listen(port, { host: '127.0.0.1' });
io.httpServer.on('listening', () =>
  console.log('sio_node: listening on 127.0.0.1:' + port));
