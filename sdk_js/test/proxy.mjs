// A TCP proxy in front of a test server that can make its open connections go silent: a network that went away
// without closing anything (a phone leaving Wi-Fi, a NAT forgetting the mapping). New connections pass as usual.
import { connect, createServer } from "node:net";

export async function startProxy(server) {
  const target = new URL(server.url);
  const pipes = new Set();
  const listener = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const pipe = { client, upstream, silent: false };
    pipes.add(pipe);
    client.on("data", (data) => pipe.silent || upstream.write(data));
    upstream.on("data", (data) => pipe.silent || client.write(data));
    const drop = () => {
      pipes.delete(pipe);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("close", drop);
      socket.on("error", drop);
    }
  });
  await new Promise((listening) => listener.listen(0, "127.0.0.1", listening));
  return {
    url: `http://127.0.0.1:${listener.address().port}`,
    /** Every connection open now stops carrying bytes either way, and stays open. */
    silenceOpenConnections() {
      for (const pipe of pipes) pipe.silent = true;
    },
    close() {
      for (const pipe of pipes) {
        pipe.client.destroy();
        pipe.upstream.destroy();
      }
      listener.close();
    },
  };
}
