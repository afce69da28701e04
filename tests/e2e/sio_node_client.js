// One Node socket.io-client 4.8 session against sio_chat.so, for
// test_socketio.py: node sio_node_client.js PORT TRANSPORTS (comma
// separated). Prints one JSON line of what it saw; exits 1 on a failure
// it can name, after a 30 s limit at most.
"use strict";
const { io } = require("socket.io-client");

const [port, transports] = [process.argv[2], process.argv[3].split(",")];
const url = "http://127.0.0.1:" + port;
const out = {};
const timer = setTimeout(() => fail("timed out"), 30000);

function fail(why) {
  out.error = String(why);
  console.log(JSON.stringify(out));
  process.exit(1);
}

function connect(nsp, auth) {
  return new Promise((resolve, reject) => {
    const s = io(url + nsp, { transports, auth, reconnection: false,
                              forceNew: true, timeout: 20000 });
    s.on("connect", () => resolve(s));
    s.on("connect_error", (err) => { s.close(); reject(err); });
  });
}

function b64(x) { return Buffer.from(x).toString("base64"); }

async function main() {
  const s = await connect("/", undefined);
  s.on("question", (...args) => {
    const cb = args.pop();
    cb(...args.reverse());
  });
  const said = [];
  s.on("said", (d) => said.push(d));
  out.echo = await s.timeout(20000).emitWithAck("echo", { a: [1, 2.5, "é", null, true] });
  const many = await new Promise((res) => s.emit("echo", "x", [1], (...a) => res(a)));
  out.echo_many = many;
  const bin = await s.timeout(20000).emitWithAck("echo", Buffer.from([0, 1, 255]));
  out.echo_binary = b64(bin);
  const nested = await s.timeout(20000).emitWithAck("echo", { b: [Buffer.from("xy"), "t"] });
  out.echo_nested = { b: [b64(nested.b[0]), nested.b[1]] };
  // emitWithAck gives the ack's first argument only: a callback, all.
  out.ask = await new Promise((res) =>
    s.emit("ask", "question", 1, "two", Buffer.from("3"), (...a) => res(a)));
  out.ask[0] = b64(out.ask[0]);
  out.join = await s.timeout(20000).emitWithAck("join", "r");
  out.say = await s.timeout(20000).emitWithAck("say", { room: "r", text: "hi" });
  while (said.length < 1) await new Promise((r) => setTimeout(r, 20));
  out.said = said;
  out.sid = s.id;
  // The upgrade may still be under way: give it 10 s.
  for (let i = 0; i < 500 && transports.includes("websocket") &&
                  s.io.engine.transport.name !== "websocket"; i++)
    await new Promise((r) => setTimeout(r, 20));
  out.transport = s.io.engine.transport.name;
  const p = await connect("/private", { token: "secret" });
  out.private_echo = await p.timeout(20000).emitWithAck("echo", 7);
  out.private_sid_differs = p.id !== s.id;
  p.close();
  for (const [nsp, auth] of [["/private", { token: "wrong" }], ["/nope", undefined]]) {
    try {
      const x = await connect(nsp, auth);
      x.close();
      out["refused " + nsp] = null;
    } catch (err) {
      out["refused " + nsp] = err.message;
    }
  }
  s.close();
  clearTimeout(timer);
  console.log(JSON.stringify(out));
}

main().catch(fail);
