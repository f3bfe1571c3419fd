import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

/**
 * The sandbox's egress proxy behind a corporate one: how a connection the egress rules allowed is
 * opened through the upstream proxy (HTTPS_PROXY / HTTP_PROXY) instead of directly.
 *
 * - `tunnel`: `CONNECT host:port` on the upstream, resolved with the socket once it answers 200,
 *   so the sandbox's TLS runs end to end through both proxies.
 * - `forward`: a socket to the upstream itself, for a plain-HTTP request the caller writes with its
 *   absolute URL (as curl sends it to an http:// proxy).
 *
 * The name goes upstream as asked (the upstream resolves it: inside a corporate network the worker
 * often cannot). Credentials in the proxy URL become a Basic Proxy-Authorization header.
 */
export class UpstreamProxyError extends Error {
  constructor(
    readonly proxy: string,
    readonly target: string,
    detail: string,
  ) {
    super(`the upstream proxy ${proxy} did not open ${target}: ${detail}`);
    this.name = "UpstreamProxyError";
  }
}

export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username) return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}`;
}

/** A connection to the proxy itself (TLS for an https:// proxy). Resolves once connected. */
export function connectToProxy(proxy: URL, timeoutMs: number, ca?: readonly string[]): Promise<Socket> {
  const port = Number(proxy.port || (proxy.protocol === "https:" ? 443 : 80));
  const host = proxy.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    const socket =
      proxy.protocol === "https:"
        ? tlsConnect({ host, port, servername: host, ...(ca?.length ? { ca: [...ca] } : {}) })
        : netConnect({ host, port });
    const fail = (err: Error) => {
      socket.destroy();
      reject(new UpstreamProxyError(proxyLabel(proxy), `${host}:${port}`, err.message));
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no connection within ${timeoutMs} ms`)));
    socket.once("error", fail);
    socket.once(proxy.protocol === "https:" ? "secureConnect" : "connect", () => {
      socket.setTimeout(0);
      socket.removeListener("error", fail);
      resolve(socket);
    });
  });
}

/** `CONNECT host:port` through the proxy; resolves with the tunnel once the proxy says 200. */
export async function tunnelThrough(proxy: URL, host: string, port: number, timeoutMs: number, ca?: readonly string[]): Promise<Socket> {
  const socket = await connectToProxy(proxy, timeoutMs, ca);
  const authority = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  const auth = proxyAuthorization(proxy);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ""}\r\n`);
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const fail = (detail: string) => {
      cleanup();
      socket.destroy();
      reject(new UpstreamProxyError(proxyLabel(proxy), authority, detail));
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buffered.length > 16 * 1024) fail("an answer header over 16 KiB");
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buffered.subarray(0, end).toString("latin1"));
      if (!status) return fail("an answer that is not HTTP");
      if (status[1] !== "200") return fail(`HTTP ${status[1]}${status[1] === "407" ? " (proxy authentication required: put the credentials in the proxy URL)" : ""}`);
      cleanup();
      const rest = buffered.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve(socket);
    };
    const onError = (err: Error) => fail(err.message);
    const onClose = () => fail("the connection closed before an answer");
    const cleanup = () => {
      socket.setTimeout(0);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    socket.on("data", onData);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}

/** The proxy for messages: scheme, host and port, never the credentials. */
export function proxyLabel(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}
