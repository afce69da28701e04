// Node socket.io-client 4.8's side of the rooms scenario, for
// test_socketio.py: node sio_node_rooms.js PORTS N ROOMS, PORTS comma
// separated. N clients (transports and ports taken in turn) each join room
// i % ROOMS and say "m<i>" to it; once every client has heard as many says
// as its room has members, and half a second more for a duplicate to show
// up, it prints one JSON line: each client's sid, room and the "said"
// events it got, for the test to check. Exits 1 on a failure it can name,
// after a 60 s limit at most.
"use strict";
const { io } = require("socket.io-client");

const ports = process.argv[2].split(",");
const [n, rooms] = [Number(process.argv[3]), Number(process.argv[4])];
const TRANSPORTS = [["polling"], ["websocket"], ["polling", "websocket"]];
const timer = setTimeout(() => fail("timed out"), 60000);

function fail(why) {
  console.log(JSON.stringify({ error: String(why) }));
  process.exit(1);
}

function connect(i) {
  const url = "http://127.0.0.1:" + ports[i % ports.length] + "/";
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: TRANSPORTS[i % TRANSPORTS.length],
                        reconnection: false, forceNew: true, timeout: 20000 });
    const c = { s, room: "room" + (i % rooms), said: [] };
    s.on("said", (d) => c.said.push(d));
    s.on("connect", () => resolve(c));
    s.on("connect_error", (err) => reject(err));
  });
}

async function main() {
  const clients = [];
  for (let i = 0; i < n; i++)
    clients.push(await connect(i));
  for (const c of clients)
    if (await c.s.timeout(20000).emitWithAck("join", c.room) !== true)
      fail("join " + c.room + " not acknowledged with true");
  await Promise.all(clients.map((c, i) =>
    c.s.timeout(20000).emitWithAck("say", { room: c.room, text: "m" + i })));
  const members = n / rooms;
  while (!clients.every((c) => c.said.length >= members))
    await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 500));
  const out = clients.map((c) => ({ sid: c.s.id, room: c.room, said: c.said }));
  for (const c of clients)
    c.s.close();
  clearTimeout(timer);
  console.log(JSON.stringify(out));
}

main().catch(fail);
