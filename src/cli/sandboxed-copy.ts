import type { ProxySettings } from "../shared/proxy.js";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CONFIG_PATH, parseRepoConfig, type LoadedRepoConfig } from "../config/repo-config.js";
import { goproxyUrls, sandboxRegistryEnv } from "../config/sandbox-registries.js";
import { egressRulesFor } from "../workspace/egress-rules.js";
import { SandboxUnavailableError } from "../workspace/errors.js";
import { createSandbox, type SandboxEnvironment } from "../workspace/sandbox.js";
import { setupFailureLine } from "../workspace/setup-failure.js";
import { detectTestPlan, readerFor, runSetup, type SetupResult, type TestPlan } from "../workspace/test-runner.js";
import { UsageError } from "./args.js";
import { checkoutFacts, cliGit, makeLocalCopy, type CheckoutFacts, type LocalCopy } from "./local-copy.js";

/**
 * The CLI's commands that run repository code (fix, check) open the same thing: a copy of the
 * checkout at HEAD (local-copy.ts), the worker's bubblewrap sandbox over it (createSandbox, the
 * same policy as a job's), the repository's test plan (detected as the worker does, or pinned in
 * .github/iquest.yml), and setup run first as its own logged step, with network through the
 * egress proxy to the package registries only.
 */
export interface SandboxedCopyOptions {
  repo: string;
  /** Run setup (dependency install) now. */
  setup: boolean;
  /** Commands may ask for network (through the egress proxy) later, too: default, when setup runs. */
  network?: boolean;
  /** EGRESS_ALLOW and NPM_REGISTRY, as the worker reads them. */
  egressAllow?: string;
  /** The user's HTTPS_PROXY / HTTP_PROXY / NO_PROXY: the egress proxy chains to it. */
  upstreamProxy?: ProxySettings;
  npmRegistry: string;
  /** GOPROXY, GOSUMDB, GOPRIVATE, GONOPROXY, GONOSUMDB, PIP_INDEX_URL, COREPACK_INTEGRITY_KEYS: passed to the sandbox; GOPROXY's and PIP_INDEX_URL's hosts allowed. */
  registryEnv?: Readonly<Record<string, string | undefined>>;
  setupTimeoutMs: number;
  bwrapPath?: string;
  /** Where the copy is made (default: the system's temporary directory). */
  tmpRoot?: string;
  signal?: AbortSignal;
  /** Progress lines (stderr). */
  say(line: string): void;
  /** Said after "not a git checkout" (fix: "or pass --sandbox none …"). */
  notCheckoutHint?: string;
  /** Checked before the copy is made (e.g. --branch not taken). A UsageError stops the run. */
  before?: (facts: CheckoutFacts, git: Parameters<typeof checkoutFacts>[0]) => Promise<void>;
}

export interface SandboxedCopy {
  facts: CheckoutFacts;
  copy: LocalCopy;
  env: SandboxEnvironment;
  /** The repository's .github/iquest.yml, as it is at HEAD. */
  config: LoadedRepoConfig;
  plan: TestPlan | null;
  /** Undefined when setup did not run (--no-setup, or nothing to install). */
  setup?: SetupResult;
  /** Setup had network (through the egress proxy). */
  network: boolean;
  close(): Promise<void>;
}

/** The user's settings that change where packages come from, as their own tools would use them. */
// COREPACK_INTEGRITY_KEYS: a mirror that serves no npm signatures needs corepack's check off ("0"), as on the user's machine.
const REGISTRY_ENV_NAMES = ["GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "PIP_INDEX_URL", "COREPACK_INTEGRITY_KEYS"] as const;

/**
 * cargo's registry settings from the user's environment: alternative registries
 * (CARGO_REGISTRIES_<NAME>_INDEX, …_PROTOCOL) and, for a cargo older than 1.68, the sparse
 * protocol behind its unstable switch (CARGO_UNSTABLE_SPARSE_REGISTRY with RUSTC_BOOTSTRAP).
 * Tokens (CARGO_REGISTRIES_<NAME>_TOKEN, CARGO_REGISTRY_TOKEN) never pass.
 */
export function isCargoRegistryEnv(name: string): boolean {
  return /^CARGO_REGISTRIES_[A-Z0-9_]+_(INDEX|PROTOCOL)$/.test(name) || name === "CARGO_UNSTABLE_SPARSE_REGISTRY" || name === "RUSTC_BOOTSTRAP";
}

export function bubblewrapHelp(reason: string): string {
  return (
    `the sandbox cannot start here: ${reason}.\n` +
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged user namespaces " +
    "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 23.10+ also kernel.apparmor_restrict_unprivileged_userns=0), " +
    "or pass --sandbox none to run the agent's commands directly on this machine (not isolated)"
  );
}

export async function openSandboxedCopy(options: SandboxedCopyOptions): Promise<SandboxedCopy> {
  const { git, dispose } = await cliGit(options.tmpRoot);
  let copy: LocalCopy | undefined;
  let env: SandboxEnvironment | undefined;
  try {
    const facts = await checkoutFacts(git, options.repo, options.notCheckoutHint);
    await options.before?.(facts, git);
    copy = await makeLocalCopy(git, facts, { ...(options.tmpRoot ? { tmpRoot: options.tmpRoot } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    const registryEnv = Object.fromEntries(Object.entries(options.registryEnv ?? {}).filter((e): e is [string, string] => !!e[1] && ((REGISTRY_ENV_NAMES as readonly string[]).includes(e[0]) || isCargoRegistryEnv(e[0]))));
    const rules = egressRulesFor(options.egressAllow, [options.npmRegistry, ...goproxyUrls(registryEnv.GOPROXY), ...(registryEnv.PIP_INDEX_URL ? [registryEnv.PIP_INDEX_URL] : [])]);
    // The repository's own settings for its tests, as the worker reads them (from the commit).
    const config = parseRepoConfig(await readFile(join(copy.worktree, CONFIG_PATH), "utf8").catch(() => undefined));
    const tests = config.config.tests;
    const network = (options.network ?? options.setup) && rules.length > 0 && tests?.setupNetwork !== false;
    env = await createSandbox({
      mode: "bwrap",
      worktree: copy.worktree,
      home: copy.home,
      allowNetwork: network,
      egress: { rules, ...(options.upstreamProxy ? { upstream: options.upstreamProxy } : {}) },
      baseEnv: { ...sandboxRegistryEnv({ NPM_REGISTRY: options.npmRegistry }), ...registryEnv },
      ...(options.bwrapPath ? { bwrapPath: options.bwrapPath } : {}),
    }).catch((err: unknown) => {
      if (err instanceof SandboxUnavailableError) throw new UsageError(bubblewrapHelp(err.message.replace(/^the bubblewrap sandbox is unavailable: /, "").replace(/\. Jobs are refused.*$/s, "")));
      throw err;
    });
    const plan = await detectTestPlan(readerFor(env), {
      ...(tests?.setup ? { setup: tests.setup } : {}),
      ...(tests?.command ? { test: tests.command } : {}),
    });
    let setup: SetupResult | undefined;
    if (options.setup && plan?.setup) {
      options.say(`setup: \`${plan.setup}\` (${plan.reason}) ${network ? "with network through the egress proxy (package registries only)" : "without network"} …`);
      setup = await runSetup(env, plan, { timeoutMs: options.setupTimeoutMs, network, ...(options.signal ? { signal: options.signal } : {}) });
      const refused = env.egressReport().refused.map((r) => `${r.host} (${r.count}×)`);
      if (setup.ok) options.say(`setup: done in ${(setup.durationMs / 1000).toFixed(1)} s`);
      else options.say(`setup: failed with exit code ${setup.exitCode}${setup.killed ? ` (${setup.killed})` : ""}: ${setupFailureLine(setup.output) ?? "no output"}`);
      if (refused.length) options.say(`setup: the egress proxy refused ${refused.join(", ")} (EGRESS_ALLOW names what setup may reach)`);
    }
    const made = copy;
    const sandbox = env;
    return {
      facts,
      copy: made,
      env: sandbox,
      config,
      plan,
      ...(setup ? { setup } : {}),
      network,
      async close() {
        await sandbox.close().catch(() => {});
        await made.close();
        await dispose();
      },
    };
  } catch (err) {
    await env?.close().catch(() => {});
    await copy?.close();
    await dispose();
    throw err;
  }
}
