/**
 * Inside the sandbox, package managers want an HTTP proxy at a TCP address; the egress proxy is a
 * Unix socket bound in (the sandbox's network namespace has only its own loopback). This small
 * script, run by the host's node inside the sandbox, listens on the sandbox's 127.0.0.1, pipes
 * each connection to the socket, runs the setup command, and exits with its status. It is
 * written to the sandbox's state directory and bound in read-only, so the repository's code
 * cannot change it; it decides nothing (the proxy does).
 */
export const EGRESS_PORT = 18080;
export const EGRESS_SOCKET_INSIDE = "/run/iquest/egress.sock";
export const EGRESS_FORWARDER_INSIDE = "/run/iquest/egress-forwarder.cjs";
export const EGRESS_PROXY_URL = `http://127.0.0.1:${EGRESS_PORT}`;
/**
 * Maven's transport ignores both HTTP_PROXY and Java's proxy properties: it takes proxies only
 * from a settings file, and its global one cannot be moved. So the forwarder writes this as the
 * user's settings ($HOME/.m2/settings.xml) unless the HOME already has one (then that one rules:
 * without a proxy in it, Maven cannot get out, and the card shows setup's failure).
 */
export const EGRESS_MAVEN_SETTINGS = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by iquest-bot: Maven reaches registries only through the sandbox's egress proxy. -->
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <proxies>
    <proxy><id>iquest-egress-http</id><active>true</active><protocol>http</protocol><host>127.0.0.1</host><port>${EGRESS_PORT}</port><nonProxyHosts>iquest.invalid</nonProxyHosts></proxy>
    <proxy><id>iquest-egress-https</id><active>true</active><protocol>https</protocol><host>127.0.0.1</host><port>${EGRESS_PORT}</port><nonProxyHosts>iquest.invalid</nonProxyHosts></proxy>
  </proxies>
</settings>
`;

export const EGRESS_FORWARDER_SOURCE = `"use strict";
const net = require("node:net");
const { spawn } = require("node:child_process");
const [port, socketPath, loopbackCsv, ...command] = process.argv.slice(2);
// Maven's proxy settings (see EGRESS_MAVEN_SETTINGS), unless the HOME has its own.
try {
  const fs = require("node:fs");
  const dir = require("node:path").join(require("node:os").homedir(), ".m2");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(dir + "/settings.xml", ${JSON.stringify(EGRESS_MAVEN_SETTINGS)}, { flag: "wx" });
} catch {}
const server = net.createServer((inside) => {
  const out = net.connect(socketPath);
  inside.pipe(out);
  out.pipe(inside);
  inside.on("error", () => out.destroy());
  out.on("error", () => inside.destroy());
});
// Registries allowed on the host's loopback (a mirror beside the worker): some tools (Go) never
// send a loopback address through a proxy, so the same port on the sandbox's own 127.0.0.1 is a
// tunnel, by CONNECT through the egress proxy, to that port on the host's (which the proxy's
// rules allow or refuse as for any other request).
for (const p of (loopbackCsv === "-" ? [] : loopbackCsv.split(","))) {
  net.createServer((inside) => {
    const out = net.connect(socketPath);
    let head = Buffer.alloc(0);
    out.write("CONNECT 127.0.0.1:" + p + " HTTP/1.1\\r\\nHost: 127.0.0.1:" + p + "\\r\\n\\r\\n");
    const onHead = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\\r\\n\\r\\n");
      if (end < 0) return;
      out.off("data", onHead);
      if (!/^HTTP\\/1\\.[01] 200/.test(head.toString("latin1"))) return inside.destroy();
      if (head.length > end + 4) inside.write(head.subarray(end + 4));
      inside.pipe(out);
      out.pipe(inside);
    };
    out.on("data", onHead);
    inside.on("error", () => out.destroy());
    out.on("error", () => inside.destroy());
    inside.on("close", () => out.destroy());
  }).listen(Number(p), "127.0.0.1").on("error", () => {});
}
server.listen(Number(port), "127.0.0.1", () => {
  const child = spawn(command[0], command.slice(1), { stdio: "inherit" });
  child.on("error", (err) => {
    process.stderr.write("iquest-bot: could not start the setup command: " + err.message + "\\n");
    process.exit(127);
  });
  child.on("exit", (code, signal) => process.exit(code === null ? 128 + (require("node:os").constants.signals[signal] || 0) : code));
});
server.on("error", (err) => {
  process.stderr.write("iquest-bot: the egress forwarder could not listen: " + err.message + "\\n");
  process.exit(126);
});
`;

/** The environment that points every common package manager at the forwarder. */
export function egressEnv(): Record<string, string> {
  const url = EGRESS_PROXY_URL;
  // Java's default http.nonProxyHosts exempts localhost and 127.*, which inside the sandbox is the
  // sandbox's own loopback: a name that matches nothing sends every host through the proxy.
  const javaProxy = `-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=${EGRESS_PORT} -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=${EGRESS_PORT} -Dhttp.nonProxyHosts=iquest.invalid`;
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    // Nothing is exempt: even a registry on the host's 127.0.0.1 goes through the proxy's rules.
    NO_PROXY: "",
    no_proxy: "",
    npm_config_proxy: url,
    npm_config_https_proxy: url,
    npm_config_noproxy: "",
    YARN_HTTP_PROXY: url,
    YARN_HTTPS_PROXY: url,
    PIP_PROXY: url,
    CARGO_HTTP_PROXY: url,
    JAVA_TOOL_OPTIONS: javaProxy,
    GRADLE_OPTS: javaProxy,
  };
}

/** Single-quote a string for bash. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The sandbox command line that runs `command` behind the forwarder, with `node` at `nodePath`;
 * `loopbackPorts`: allowed registries on the host's loopback, tunnelled from the same ports.
 */
export function behindEgress(command: string, nodePath: string, shell: string, loopbackPorts: readonly number[] = []): string {
  const ports = loopbackPorts.filter((p) => p !== EGRESS_PORT);
  return `exec ${shellQuote(nodePath)} ${EGRESS_FORWARDER_INSIDE} ${EGRESS_PORT} ${EGRESS_SOCKET_INSIDE} ${ports.length ? ports.join(",") : "-"} ${shell} -c ${shellQuote(command)}`;
}

/** Allowed registries at the host's 127.0.0.1 (with a port): tunnelled from the sandbox's 127.0.0.1. */
export function loopbackRegistryPorts(rules: readonly { host: string; port?: number }[]): number[] {
  return [...new Set(rules.filter((r) => r.port !== undefined && r.host === "127.0.0.1").map((r) => r.port!))];
}
