import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Env } from "../config/env.js";
import { installOutbound } from "../shared/outbound.js";
import { proxyEnvFor, type ProxySettings } from "../shared/proxy.js";
import { SYSTEM_CA_BUNDLE } from "../workspace/sandbox-policy.js";

export interface NetworkSetup {
  proxy: ProxySettings;
  /** For host-side git: curl's proxy variables and, with a custom CA, GIT_SSL_CAINFO. */
  gitEnv: Record<string, string>;
  /** The custom CA (PEM), for the sandbox's tools; undefined without one. */
  extraCaPem: string | undefined;
}

/**
 * Route every fetch of this process through the proxy settings (and trust the extra CA), and say
 * what git needs to do the same. Called by each entry point before its first request.
 *
 * git gets one file with (SYSTEM_CA_BUNDLE is Debian's path, which git's curl reads by default) the system's roots and the extra CA together: GIT_SSL_CAINFO replaces
 * curl's bundle rather than adding to it, so the extra CA alone would break github.com.
 */
export function setUpNetwork(env: Pick<Env, "proxy" | "extraCa">): NetworkSetup {
  installOutbound({ proxy: env.proxy, ...(env.extraCa ? { ca: [env.extraCa.pem] } : {}) });
  const gitEnv = proxyEnvFor(env.proxy);
  if (env.extraCa) {
    const system = existsSync(SYSTEM_CA_BUNDLE) ? readFileSync(SYSTEM_CA_BUNDLE, "utf8") : "";
    const bundle = `${system.trimEnd()}\n${env.extraCa.pem.trim()}\n`;
    const file = join(tmpdir(), `iquest-ca-${process.getuid?.() ?? 0}-${createHash("sha256").update(bundle).digest("hex").slice(0, 16)}.pem`);
    writeFileSync(file, bundle, { mode: 0o644 });
    gitEnv.GIT_SSL_CAINFO = file;
  }
  return { proxy: env.proxy, gitEnv, extraCaPem: env.extraCa?.pem };
}
