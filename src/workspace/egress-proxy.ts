import { lookup } from "node:dns/promises";
import { chmod } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, isIP, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { proxyFor, type ProxySettings } from "../shared/proxy.js";
import { decideEgress, matchRule, type EgressDecision, type EgressRule } from "./egress-rules.js";
import { connectToProxy, proxyAuthorization, tunnelThrough } from "./upstream-tunnel.js";

/**
 * The only way out of a sandbox during setup: an HTTP proxy the worker runs on a Unix socket,
 * which is bound into the sandbox (the sandbox keeps its own network namespace, so it has no
 * other route anywhere, not even to the host's 127.0.0.1). Package managers reach it through
 * their standard proxy settings (a forwarder inside the sandbox listens on its loopback; see
 * egress-forwarder.ts). It serves HTTP CONNECT (HTTPS registries) and absolute-URI requests
 * (plain-HTTP registries), for the hosts the rules allow (egress-rules.ts) and nothing else.
 *
 * The proxy resolves names itself and decides on the addresses before it dials, then dials the
 * address it checked: DNS cannot be used to reach what the rules refuse (a name that resolves to
 * 10.x, 127.x or the metadata address is refused unless an operator allowed that name as private).
 * Refusals are counted per host, so the job card can say which registry to allow. It knows
 * nothing of jobs.
 *
 * Behind a corporate proxy (`upstream`: the worker's HTTPS_PROXY / HTTP_PROXY / NO_PROXY), what
 * the rules allow goes on through it (upstream-tunnel.ts) unless NO_PROXY sends that host direct.
 * The rules are checked the same way first; a name the worker cannot resolve itself (common where
 * only the proxy resolves outside names) is let through by name, to the proxy, which resolves it.
 */
export interface EgressProxyOptions {
  rules: readonly EgressRule[];
  /** Where it listens (a path inside the sandbox's state directory). */
  socketPath: string;
  /** Name resolution (tests map names to addresses of their choice). */
  resolve?: (host: string) => Promise<string[]>;
  /** Opens the TCP connection to a checked address (tests instrument it). */
  dial?: (address: string, port: number) => Socket;
  /** Connect and idle timeout per connection. */
  timeoutMs?: number;
  /** The worker's own outbound proxy, which allowed connections go through (see above). */
  upstream?: ProxySettings;
  /** Extra CAs for an https:// upstream proxy. */
  upstreamCa?: readonly string[];
}

export interface EgressReport {
  /** Connections and requests let through. */
  allowed: number;
  /** Refused, per `host:port`, with why (first reason seen). */
  refused: Array<{ host: string; count: number; reason: string }>;
}

export interface EgressProxy {
  readonly socketPath: string;
  report(): EgressReport;
  close(): Promise<void>;
}

const defaultResolve = async (host: string) => (isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address));
const defaultDial = (address: string, port: number) => connect({ host: address, port });

export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const resolve = options.resolve ?? defaultResolve;
  const dial = options.dial ?? defaultDial;
  const timeoutMs = options.timeoutMs ?? 60_000;
  let allowed = 0;
  const refused = new Map<string, { count: number; reason: string }>();
  const sockets = new Set<Duplex>();

  const routeOf = (scheme: "http" | "https", host: string, port: number) =>
    options.upstream ? proxyFor(`${scheme}://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`, options.upstream) : undefined;
  const check = async (host: string, port: number, via: URL | undefined): Promise<EgressDecision> => {
    const target = `${host}:${port}`;
    // An unlisted name is refused without a lookup: resolving it would carry whatever a setup
    // script encodes in the name out to DNS.
    let addresses: string[] = [];
    if (matchRule(options.rules, host, port)) {
      try {
        addresses = await resolve(host.replace(/^\[|\]$/g, ""));
      } catch {
        addresses = [];
      }
    }
    let decision = decideEgress(options.rules, host, port, addresses);
    if (!decision.ok && decision.reason === "unresolved" && via) decision = { ok: true, address: host };
    if (decision.ok) allowed++;
    else {
      const r = refused.get(target);
      refused.set(target, { count: (r?.count ?? 0) + 1, reason: r?.reason ?? decision.detail });
    }
    return decision;
  };
  const refuse = (res: ServerResponse, status: number, text: string) => {
    if (res.headersSent) return res.destroy();
    res.writeHead(status, { "content-type": "text/plain", connection: "close" });
    res.end(`iquest-bot egress: ${text}\n`);
  };

  // A direct connection to the address the check looked at, resolved once connected.
  const dialChecked = (address: string, port: number) =>
    new Promise<Socket>((resolveDial, reject) => {
      const socket = dial(address, port);
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)));
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.removeListener("error", reject);
        resolveDial(socket);
      });
    });
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on("close", () => sockets.delete(socket));
    return socket;
  };

  const server: Server = createServer((req, res) => void forward(req, res));
  // Plain-HTTP registries: `GET http://host:port/path` is sent on to the checked address. The
  // request is written by hand on the socket `dial` opened (never through http.request, whose
  // agents, or a test's HTTP interceptor, may open a socket of their own to somewhere else), and
  // the answer's bytes go back as they come; the connection closes after one exchange.
  async function forward(req: IncomingMessage, res: ServerResponse) {
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      return refuse(res, 400, "only proxy requests (absolute URLs or CONNECT) are served");
    }
    if (url.protocol !== "http:") return refuse(res, 400, `${url.protocol} is not proxied as a plain request; use CONNECT`);
    const port = Number(url.port || 80);
    const via = routeOf("http", url.hostname, port);
    const decision = await check(url.hostname, port, via);
    if (!decision.ok) return refuse(res, 403, decision.detail);
    // Direct: origin-form to the checked address. Through an upstream proxy: the absolute URL.
    const lines = [`${req.method ?? "GET"} ${via ? url.href : `${url.pathname}${url.search}`} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (/^(proxy-|connection$|keep-alive$)/i.test(name)) continue;
      lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
    }
    const auth = via && proxyAuthorization(via);
    if (auth) lines.push(`Proxy-Authorization: ${auth}`);
    lines.push("Connection: close", "", "");
    const client = req.socket;
    let upstream: Socket;
    try {
      upstream = track(await (via ? connectToProxy(via, timeoutMs, options.upstreamCa) : dialChecked(decision.address, port)));
    } catch (err) {
      return refuse(res, 502, `${url.host}: ${(err as Error).message}`);
    }
    let answered = false;
    upstream.write(lines.join("\r\n"));
    req.pipe(upstream, { end: false });
    upstream.on("data", (chunk: Buffer) => {
      answered = true;
      client.write(chunk);
    });
    upstream.on("end", () => client.end());
    upstream.on("error", (err) => (answered ? client.destroy() : refuse(res, 502, `${url.host}: ${err.message}`)));
    client.on("close", () => upstream.destroy());
  }

  // HTTPS registries: CONNECT host:port, then bytes both ways.
  server.on("connect", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    void (async () => {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? "");
      if (!m) return void client.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
      const host = m[1]!;
      const port = Number(m[2]);
      const via = routeOf("https", host.replace(/^\[|\]$/g, ""), port);
      const decision = await check(host, port, via);
      if (!decision.ok) return void client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\niquest-bot egress: ${decision.detail}\n`);
      let upstream: Socket;
      try {
        upstream = track(await (via ? tunnelThrough(via, host.replace(/^\[|\]$/g, ""), port, timeoutMs, options.upstreamCa) : dialChecked(decision.address, port)));
      } catch (err) {
        if (client.writable) client.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\niquest-bot egress: ${(err as Error).message}\n`);
        return void client.destroy();
      }
      if (client.destroyed) return void upstream.destroy();
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    })();
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(options.socketPath, () => resolveListen());
  });
  // The sandbox's user (a pool uid, mapped) must be able to connect: the socket file's mode.
  await chmod(options.socketPath, 0o666);

  return {
    socketPath: options.socketPath,
    report: () => ({
      allowed,
      refused: [...refused].map(([host, r]) => ({ host, count: r.count, reason: r.reason })).sort((a, b) => b.count - a.count),
    }),
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}
