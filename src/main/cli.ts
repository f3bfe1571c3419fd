import { isCargoRegistryEnv } from "../cli/sandboxed-copy.js";
import { runCli } from "../cli/run-cli.js";
import { readExtraCa } from "../config/env.js";
import { installOutbound } from "../shared/outbound.js";
import { proxyPasswords, proxySettingsFrom, type ProxySettings } from "../shared/proxy.js";
import { createRedactor } from "../shared/redact.js";

/**
 * `iquest-bot` (bin/iquest-bot.js): the CLI's composition root, and the one place it reads the
 * process environment. Everything else gets plain values.
 *
 * Ctrl-C cancels the run (the agent's running command is killed, the result so far is printed,
 * exit 130); a second Ctrl-C exits at once.
 */
const env = process.env;
const MODEL_KEYS = [
  "MODEL_BASE_URL",
  "MODEL_NAME",
  "MODEL_API_KEY",
  "MODEL_TOOL_PROTOCOL",
  "MODEL_TEMPERATURE",
  "MODEL_TOP_P",
  "MODEL_TOP_K",
  "MODEL_MAX_TOKENS",
  "MODEL_TIMEOUT_MS",
  "MODEL_CONTEXT_WINDOW",
] as const;
const modelEnv = Object.fromEntries(MODEL_KEYS.map((k) => [k, env[k]]));

// The agent's commands get a short, fixed list: no tokens, keys or cloud credentials leak in.
const COMMAND_KEYS = ["PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "SHELL"] as const;
const commandEnv: Record<string, string> = {};
for (const key of COMMAND_KEYS) {
  const value = env[key];
  if (value !== undefined) commandEnv[key] = value;
}
commandEnv.TERM = "dumb";
commandEnv.CI = "true"; // tools stay non-interactive

// Outbound calls (the model, registries) honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY and
// NODE_EXTRA_CA_CERTS as the worker does; a bad value stops here with the reason (exit 2).
let upstreamProxy: ProxySettings;
try {
  upstreamProxy = proxySettingsFrom(env);
  const extraCa = readExtraCa(env.NODE_EXTRA_CA_CERTS);
  installOutbound({ proxy: upstreamProxy, ...(extraCa ? { ca: [extraCa.pem] } : {}) });
} catch (err) {
  process.stderr.write(`iquest-bot: ${(err as Error).message}\n`);
  process.exit(2);
}

const controller = new AbortController();
let interrupted = false;
process.on("SIGINT", () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write("\niquest-bot: interrupted; stopping the agent (Ctrl-C again to quit at once)\n");
  controller.abort("stop");
});
process.on("SIGTERM", () => controller.abort("shutdown"));

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stderrIsTTY: process.stderr.isTTY === true,
  stdin: process.stdin,
  cwd: process.cwd(),
  modelEnv,
  commandEnv,
  redact: createRedactor([env.MODEL_API_KEY, ...proxyPasswords(upstreamProxy)]),
  ...(upstreamProxy.http || upstreamProxy.https ? { upstreamProxy } : {}),
  ...(env.NPM_REGISTRY ? { npmRegistry: env.NPM_REGISTRY } : {}),
  ...(env.EGRESS_ALLOW ? { egressAllow: env.EGRESS_ALLOW } : {}),
  registryEnv: {
    GOPROXY: env.GOPROXY,
    GOPRIVATE: env.GOPRIVATE,
    GONOPROXY: env.GONOPROXY,
    GOSUMDB: env.GOSUMDB,
    PIP_INDEX_URL: env.PIP_INDEX_URL,
    COREPACK_INTEGRITY_KEYS: process.env.COREPACK_INTEGRITY_KEYS,
    // The user's cargo registry settings (alternative registries, sparse on cargo < 1.68).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => isCargoRegistryEnv(k))),
  },
  signal: controller.signal,
});
process.exitCode = code;
// Exit even if a keep-alive socket lingers; unref'd, so it never delays a clean exit.
setTimeout(() => process.exit(code), 2000).unref();
