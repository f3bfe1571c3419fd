import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { DAY_MS, type NpmRegistry } from "./npm-registry/index.js";
import { publishGreeter } from "./upgrade-fixtures.js";

/**
 * pnpm and yarn for tests, served by the test's own npm registry so that corepack fetches them
 * from 127.0.0.1 and never from the internet: the packages come from this project's
 * devDependencies (`pnpm`, `yarn` for classic, `@yarnpkg/cli-dist` for berry, the package
 * corepack downloads for yarn ≥ 2), packed with `npm pack` at run time and published as they are.
 */
const run = promisify(execFile);
const ROOT = join(new URL("../..", import.meta.url).pathname);

export const MANAGER_PACKAGES = ["pnpm", "yarn", "@yarnpkg/cli-dist"] as const;

/** The versions published, by package: what a fixture's `packageManager` may pin. */
export async function publishPackageManagers(registry: NpmRegistry): Promise<Record<(typeof MANAGER_PACKAGES)[number], string>> {
  const out = mkdtempSync(join(tmpdir(), "pm-pack-"));
  try {
    const versions = {} as Record<(typeof MANAGER_PACKAGES)[number], string>;
    for (const name of MANAGER_PACKAGES) {
      const dir = join(ROOT, "node_modules", name);
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown> & { version: string };
      const { stdout } = await run("npm", ["pack", dir, "--pack-destination", out, "--ignore-scripts", "--json"], { cwd: out, maxBuffer: 64 * 1024 * 1024 });
      const file = (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename;
      const { name: _n, version: _v, ...rest } = manifest;
      registry.publish({ name, version: manifest.version, tarball: readFileSync(join(out, file)), manifest: rest, publishedAt: new Date(Date.now() - 400 * 24 * 3600_000) });
      versions[name] = manifest.version;
    }
    return versions;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** corepack's settings for a test: the test registry, its own cache, no prompts, no signatures (the test registry signs nothing). */
export function corepackEnv(registry: NpmRegistry, home: string): Record<string, string> {
  return {
    COREPACK_NPM_REGISTRY: registry.url.replace(/\/+$/, ""),
    COREPACK_INTEGRITY_KEYS: "0",
    COREPACK_HOME: join(home, "corepack"),
    COREPACK_ENABLE_DOWNLOAD_PROMPT: "0",
    COREPACK_ENABLE_AUTO_PIN: "0",
  };
}

/** `corepack <manager> <args>` in `dir` on this machine (to build fixtures), asynchronously: the registry answers from this process. */
export async function corepack(dir: string, home: string, registry: NpmRegistry, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run("corepack", args, {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: home, npm_config_cache: join(home, "npm-cache"), YARN_CACHE_FOLDER: join(home, "yarn-cache"), ...corepackEnv(registry, home) },
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`corepack ${args.join(" ")} failed in ${dir}:\n${(e.stdout ?? "").slice(-3000)}${(e.stderr ?? "").slice(-3000)}`);
  }
}

export type ManagerVersions = Awaited<ReturnType<typeof publishPackageManagers>>;

/** One package manager as a fixture uses it. */
export interface JsManagerFixture {
  label: "pnpm" | "yarn classic" | "yarn berry (Plug'n'Play)";
  lock: "pnpm-lock.yaml" | "yarn.lock";
  berry: boolean;
  /** `packageManager` for package.json. */
  packageManager(versions: ManagerVersions): string;
  /** Registry settings and the workspace declaration, as this manager reads them. */
  files(registryUrl: string): Record<string, string>;
  workspaces: boolean;
  /** The install that writes the fixture's lock file, on this machine. */
  install: string[];
  /** The install that must accept a lock file as it is (what the project's CI runs). */
  frozen: string[];
  /** The command the agent runs the tests with. */
  test: string;
}

export const JS_MANAGERS: JsManagerFixture[] = [
  {
    label: "pnpm",
    lock: "pnpm-lock.yaml",
    berry: false,
    packageManager: (v) => `pnpm@${v.pnpm}`,
    files: (url) => ({ ".npmrc": `registry=${url}\n`, "pnpm-workspace.yaml": "packages:\n  - packages/*\n" }),
    workspaces: false,
    install: ["pnpm", "install", "--lockfile-only", "--ignore-scripts"],
    frozen: ["pnpm", "install", "--frozen-lockfile", "--lockfile-only"],
    test: "pnpm test",
  },
  {
    label: "yarn classic",
    lock: "yarn.lock",
    berry: false,
    packageManager: (v) => `yarn@${v.yarn}`,
    files: (url) => ({ ".npmrc": `registry=${url}\n` }),
    workspaces: true,
    install: ["yarn", "install", "--ignore-scripts", "--non-interactive"],
    frozen: ["yarn", "install", "--frozen-lockfile", "--ignore-scripts"],
    test: "yarn test",
  },
  {
    label: "yarn berry (Plug'n'Play)",
    lock: "yarn.lock",
    berry: true,
    packageManager: (v) => `yarn@${v["@yarnpkg/cli-dist"]}`,
    files: (url) => ({ ".yarnrc.yml": `npmRegistryServer: "${url}"\nunsafeHttpWhitelist:\n  - "127.0.0.1"\nenableTelemetry: false\n` }),
    workspaces: true,
    install: ["yarn", "install", "--mode=update-lockfile"],
    frozen: ["yarn", "install", "--immutable"],
    test: "yarn test",
  },
];

/**
 * greet-app on greeter ^1.0.0 and left-pad ^1.0.0 (both locked at 1.0.0) and a workspace `wsp`
 * on @acme/ws-dep ^1.0.0 (locked 1.0.0), in `dir`: locked by the manager itself with exact
 * versions first, then the ranges (yarn's entry headers renamed to the ranges, which yarn keeps).
 * The registry must serve greeter (publishGreeter), left-pad and @acme/ws-dep 1.0.0.
 */
export async function writeJsApp(dir: string, m: JsManagerFixture, registry: NpmRegistry, versions: ManagerVersions): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "js-pm-home-"));
  const manifest = (deps: Record<string, string>) =>
    `${JSON.stringify({ name: "greet-app", version: "1.0.0", private: true, packageManager: m.packageManager(versions), ...(m.workspaces ? { workspaces: ["packages/*"] } : {}), scripts: { test: "node --test" }, dependencies: deps }, null, 2)}\n`;
  const ws = (range: string) => `${JSON.stringify({ name: "wsp", version: "1.0.0", private: true, dependencies: { "@acme/ws-dep": range } }, null, 2)}\n`;
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  try {
    for (const [path, text] of Object.entries({
      ...m.files(registry.url),
      ".gitignore": "node_modules/\n.yarn/\n.pnp.*\n",
      "package.json": manifest({ greeter: "1.0.0", "left-pad": "1.0.0" }),
      "packages/ws/package.json": ws("1.0.0"),
      "index.js": 'const { greet } = require("greeter");\n\nmodule.exports = (name) => greet(name);\n',
      "test/app.test.js": 'const test = require("node:test");\nconst assert = require("node:assert");\nconst app = require("..");\n\ntest("greets", () => {\n  assert.strictEqual(app(" World "), "Hello, World!");\n});\n',
    }))
      write(path, text);
    await corepack(dir, home, registry, m.install);
    write("package.json", manifest({ greeter: "^1.0.0", "left-pad": "^1.0.0" }));
    write("packages/ws/package.json", ws("^1.0.0"));
    if (m.lock === "yarn.lock") {
      // Entry headers only (berry's `resolution:` lines name the exact version and stay).
      write("yarn.lock", readFileSync(join(dir, "yarn.lock"), "utf8").replace(/^("?)(greeter|left-pad|@acme\/ws-dep)@(npm:)?1\.0\.0/gm, "$1$2@$3^1.0.0"));
    }
    await corepack(dir, home, registry, m.install);
    rmSync(join(dir, "node_modules"), { recursive: true, force: true });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The version locked for `name` as `range` asks for it, read from the lock text the way each manager writes it. */
export function lockedIn(m: JsManagerFixture, text: string, name: string, range: string, importer = "."): string | undefined {
  if (m.lock === "pnpm-lock.yaml") {
    const doc = parseYaml(text) as { importers: Record<string, { dependencies?: Record<string, { specifier: string; version: string }> }> };
    const entry = doc.importers[importer]?.dependencies?.[name];
    return entry?.specifier === range ? entry.version : undefined;
  }
  const lines = text.split("\n");
  const header = lines.findIndex((l) => !l.startsWith(" ") && l.replace(/"/g, "").slice(0, -1).split(/,\s*/).includes(`${name}@${m.berry ? "npm:" : ""}${range}`));
  return header < 0 ? undefined : /version:? "?([^"\s]+)"?/.exec(lines[header + 1]!)?.[1];
}

/** What writeJsApp's app depends on: greeter (1.0.0, 1.1.0, the breaking 2.0.0), left-pad (1.2.0 the newest old enough; 1.3.0 yesterday's), @acme/ws-dep. */
export function publishJsAppPackages(registry: NpmRegistry): void {
  publishGreeter(registry);
  const ago = (days: number) => new Date(Date.now() - days * DAY_MS);
  for (const [v, days] of [["1.0.0", 90], ["1.1.0", 60], ["1.2.0", 30]] as const) registry.publish({ name: "left-pad", version: v, publishedAt: ago(days), files: { "index.js": "module.exports = (s, n) => String(s).padStart(n);\n" } });
  registry.publish({ name: "left-pad", version: "1.3.0", publishedAt: ago(1) });
  for (const v of ["1.0.0", "1.5.0"]) registry.publish({ name: "@acme/ws-dep", version: v, publishedAt: ago(30) });
}
