import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type TLSSocket } from "node:tls";

/**
 * A certificate authority made at run time (no key is ever committed) and a server certificate it
 * signed for `localhost` and 127.0.0.1, with openssl. Node, git and curl trust it only when told
 * (NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO, the app's CA setting).
 */
export interface TestCa {
  dir: string;
  /** The CA certificate (PEM) and its file. */
  caPem: string;
  caFile: string;
  /** The server's certificate and key (PEM). */
  cert: string;
  key: string;
  dispose(): void;
}

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "test-ca-"));
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=iquest-bot test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost");
  writeFileSync(p("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  ssl("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("ext.cnf"));
  return {
    dir,
    caPem: readFileSync(p("ca.pem"), "utf8"),
    caFile: p("ca.pem"),
    cert: readFileSync(p("server.pem"), "utf8"),
    key: readFileSync(p("server.key"), "utf8"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * HTTPS in front of a plain-HTTP test server (the GitHub simulator, the fake vLLM): TLS with the
 * test CA's certificate, the bytes passed on unchanged to 127.0.0.1:`targetPort`.
 */
export async function startTlsFront(ca: TestCa, targetPort: number): Promise<{ port: number; connections: () => number; stop(): Promise<void> }> {
  const sockets = new Set<Socket | TLSSocket>();
  let connections = 0;
  const server = createServer({ cert: ca.cert, key: ca.key }, (tls) => {
    connections++;
    sockets.add(tls);
    const up = connect({ host: "127.0.0.1", port: targetPort });
    sockets.add(up);
    tls.pipe(up).pipe(tls);
    const end = () => {
      tls.destroy();
      up.destroy();
    };
    tls.on("error", end).on("close", () => (sockets.delete(tls), end()));
    up.on("error", end).on("close", () => (sockets.delete(up), end()));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    stop: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}
