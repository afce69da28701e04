// Node socket.io-client 4.8 under a HUP, for test_sio_workers.py:
// node sio_node_hup.js PORT N [any]. N clients (polling only, WebSocket only,
// upgraded, in turn), reconnection on, each emitting acked echoes without
// pause. Prints "ready" once every client is connected and has had an
// echo acked; the test then sends HUP and, once the old workers are gone,
// writes a line to stdin. Each client then must be connected again (with
// "any", connected: max_requests moves only some, at any time); 10
// more echoes each must all be acked; then one JSON line: per client its
// connects, its disconnect reasons, its acks per message (each once, or
// the test fails), the echoes acked after the reconnection, and whether
// its session ended again meanwhile (max_requests goes on recycling).
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const [port, n] = [process.argv[2], Number(process.argv[3])];
const moved = process.argv[4] === "any" ? 1 : 2; // connects each must reach
const TRANSPORTS = [["polling"], ["websocket"], ["polling", "websocket"]];
const timer = setTimeout(() => fail("timed out"), 120000);

function fail(why) {
  console.log(JSON.stringify({ error: String(why) }));
  process.exit(1);
}

function client(i) {
  const s = io("http://127.0.0.1:" + port + "/", {
    transports: TRANSPORTS[i % TRANSPORTS.length], forceNew: true,
    reconnectionDelay: 100, reconnectionDelayMax: 500, timeout: 20000 });
  const c = { i, s, connects: 0, reasons: [], acks: {}, seq: 0, after: 0,
              loading: true };
  s.on("connect", () => { c.connects++; });
  s.on("disconnect", (reason) => { c.reasons.push(reason); });
  return c;
}

// One acked echo: true when acked (counted per message), false if not
// within 5 s (lost to a closing session).
async function echo(c) {
  const id = c.i + ":" + c.seq++;
  try {
    const got = await c.s.timeout(5000).emitWithAck("echo", id);
    c.acks[got] = (c.acks[got] || 0) + 1;
    return got === id;
  } catch (err) {
    return false;
  }
}

async function load(c) {
  while (c.loading) {
    if (!c.s.connected || !(await echo(c)))
      await new Promise((r) => setTimeout(r, 50));
  }
}

function until(test) {
  return new Promise((resolve) => {
    const t = setInterval(() => { if (test()) { clearInterval(t); resolve(); } }, 20);
  });
}

async function main() {
  const clients = [];
  for (let i = 0; i < n; i++)
    clients.push(client(i));
  await until(() => clients.every((c) => c.s.connected));
  for (const c of clients)
    if (!(await echo(c)))
      fail("client " + c.i + ": first echo not acked");
  const loads = clients.map(load);
  console.log("ready");
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  rl.close();
  await until(() => clients.every((c) => c.connects >= moved && c.s.connected));
  for (const c of clients)
    c.loading = false;
  await Promise.all(loads);
  for (const c of clients) {
    const [connects, ends] = [c.connects, c.reasons.length];
    for (let k = 0; k < 10; k++)
      c.after += (await echo(c)) ? 1 : 0;
    // Its session ended meanwhile (it may not have reconnected yet).
    c.moved_after = c.connects !== connects || c.reasons.length !== ends;
  }
  const out = JSON.stringify(clients.map((c) => ({
    connects: c.connects, reasons: c.reasons, acks: c.acks, after: c.after,
    moved_after: c.moved_after,
    transport: c.s.io.engine.transport.name })));
  for (const c of clients)
    c.s.close();
  clearTimeout(timer);
  console.log(out);
}

main().catch(fail);
