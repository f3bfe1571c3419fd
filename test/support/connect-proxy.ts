import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";

/**
 * A forward proxy for tests, as a corporate one behaves: HTTP CONNECT tunnels (HTTPS targets) and
 * absolute-URI requests (plain HTTP), with optional Basic auth. It records every target that went
 * through it (`host:port`, and how), and refuses with 403 the targets in `refuse` — what NO_PROXY
 * should have sent direct — so a call that wrongly went through the proxy fails loudly.
 */
export interface TestProxy {
  readonly url: string;
  readonly port: number;
  /** What went through, in order. */
  readonly seen: Array<{ target: string; method: "CONNECT" | "GET" | string; refused: boolean; path?: string; userAgent?: string }>;
  /** Targets (`host:port`) that must not come through: answered 403 and recorded as refused. */
  refuse: Set<string>;
  /** Required `user:password` (407 without it). */
  auth?: string;
  targets(): string[];
  stop(): Promise<void>;
}

/** `hosts`: names only this proxy can resolve (as inside a corporate network, where the worker's DNS cannot). */
export async function startTestProxy(options: { auth?: string; refuse?: readonly string[]; hosts?: Record<string, string> } = {}): Promise<TestProxy> {
  const resolveName = (host: string) => options.hosts?.[host] ?? host;
  const sockets = new Set<Duplex>();
  const proxy: TestProxy = {
    url: "",
    port: 0,
    seen: [],
    refuse: new Set(options.refuse ?? []),
    ...(options.auth ? { auth: options.auth } : {}),
    targets: () => [...new Set(proxy.seen.filter((s) => !s.refused).map((s) => s.target))],
    stop: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
  const authorized = (req: IncomingMessage) => !proxy.auth || req.headers["proxy-authorization"] === `Basic ${Buffer.from(proxy.auth).toString("base64")}`;

  const server: Server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end("absolute URL expected\n");
      return;
    }
    const target = `${url.hostname}:${url.port || 80}`;
    if (!authorized(req)) {
      proxy.seen.push({ target, method: req.method ?? "GET", refused: true });
      res.writeHead(407, { "proxy-authenticate": 'Basic realm="test"' }).end();
      return;
    }
    const refused = proxy.refuse.has(target);
    proxy.seen.push({ target, method: req.method ?? "GET", refused, path: `${url.pathname}${url.search}`, ...(req.headers["user-agent"] ? { userAgent: req.headers["user-agent"] } : {}) });
    if (refused) {
      res.writeHead(403, { "content-type": "text/plain" }).end(`test proxy: ${target} should not come through the proxy\n`);
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const up = httpRequest({ host: resolveName(url.hostname), port: Number(url.port || 80), method: req.method, path: `${url.pathname}${url.search}`, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on("error", (err) => (res.headersSent ? res.destroy() : res.writeHead(502).end(String(err))));
    req.pipe(up);
  });
  server.on("connect", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    const target = req.url ?? "";
    if (!authorized(req)) {
      proxy.seen.push({ target, method: "CONNECT", refused: true });
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const refused = proxy.refuse.has(target);
    proxy.seen.push({ target, method: "CONNECT", refused });
    const m = /^(.*):(\d+)$/.exec(target);
    if (refused || !m) {
      client.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
      return;
    }
    const up: Socket = connect({ host: resolveName(m[1]!.replace(/^\[|\]$/g, "")), port: Number(m[2]) });
    sockets.add(up);
    up.on("close", () => sockets.delete(up));
    up.once("connect", () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on("error", () => {
      if (client.writable) client.end("HTTP/1.1 502 Bad Gateway\r\n\r\n");
      client.destroy();
    });
    client.on("close", () => up.destroy());
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  Object.assign(proxy, { port, url: `http://${options.auth ? `${options.auth}@` : ""}127.0.0.1:${port}` });
  return proxy;
}
