import type { RunnerKind } from "./test-parse.js";
import { goPin, pythonFor, pythonPin, rustPin, type VersionPin } from "./version-pins.js";
import { findRunnerStep, type RunnerStep } from "./test-chain.js";
import { NODE_TOOLCHAIN_DIR, nodeToolchainFor, nodeWanted } from "./node-version.js";

/**
 * How to install dependencies and run the tests, read from the repository's files. The result
 * is a plan of shell commands that run inside the sandbox; `.github/iquest.yml` can override
 * either command (`tests.setup`, `tests.command`).
 *
 * Order when several ecosystems are present: the config override, then npm/yarn/pnpm (when
 * package.json has a real `test` script), Python (pytest), Go, Rust, Maven, Gradle, and last
 * `make test`. Only the first match runs; a polyglot repository should set `tests.command`.
 */

export type Ecosystem = "node" | "python" | "go" | "rust" | "maven" | "gradle" | "make" | "custom";

/** What an install produces, relative to the worktree or to the sandbox HOME. */
export interface CachePath {
  base: "workspace" | "home";
  path: string;
}

export interface TestPlan {
  ecosystem: Ecosystem;
  /** Dependency install (runs with network when the config allows it). */
  setup?: string;
  test: string;
  /** Parser to try first; all parsers are tried anyway. */
  runnerHint?: RunnerKind;
  /**
   * The test runner's own step when the test script is a chain (`xo && c8 ava && tsd`): run
   * alone when the base commit fails before the runner (test-chain.ts, runBaseline).
   */
  runnerStep?: RunnerStep;
  /** Put first on PATH for setup and tests (a toolchain setup installs, e.g. the Node asked for). */
  pathPrefix?: string;
  /** What the job card should say about how the tests will run (a toolchain fetched, …). */
  notes?: string[];
  /** A Go, Rust or Python version the repository asks for (version-pins.ts): checked against what ran. */
  versionPin?: VersionPin;
  /** Files whose content keys the install cache. */
  lockFiles: string[];
  cachePaths: CachePath[];
  source: "detected" | "config";
  /** One line for the job card: why this plan. */
  reason: string;
}

export interface TestOverrides {
  setup?: string;
  test?: string;
}

/** Reads a file relative to the worktree; undefined when it does not exist (Environment.readFile). */
export type ReadRepoFile = (path: string) => Promise<Buffer | undefined>;

export function readerFor(env: { readFile(path: string): Promise<Buffer> }): ReadRepoFile {
  return async (path) => {
    try {
      return await env.readFile(path);
    } catch {
      return undefined;
    }
  };
}

const NPM_PLACEHOLDER = /no test specified/;

/** The toolchain the sandbox has (the worker's own Node: the sandbox sees the same /usr). */
export interface RuntimeFacts {
  nodeVersion: string;
  arch: string;
}

export async function detectTestPlan(read: ReadRepoFile, overrides: TestOverrides = {}, runtime: RuntimeFacts = { nodeVersion: process.version, arch: process.arch }): Promise<TestPlan | null> {
  const detected = await detect(read, runtime);
  if (overrides.test) {
    return {
      ecosystem: detected?.ecosystem ?? "custom",
      setup: overrides.setup ?? detected?.setup,
      test: overrides.test,
      runnerHint: detected?.runnerHint,
      ...(detected?.pathPrefix ? { pathPrefix: detected.pathPrefix, notes: detected.notes } : {}),
      ...(detected?.versionPin ? { versionPin: detected.versionPin } : {}),
      lockFiles: detected?.lockFiles ?? [],
      cachePaths: detected?.cachePaths ?? [],
      source: "config",
      reason: "`tests.command` in .github/iquest.yml",
    };
  }
  if (detected && overrides.setup) return { ...detected, setup: overrides.setup, source: "config", reason: `${detected.reason}; setup from .github/iquest.yml` };
  return detected;
}

async function detect(read: ReadRepoFile, runtime: RuntimeFacts): Promise<TestPlan | null> {
  const text = async (p: string) => (await read(p))?.toString("utf8");
  const exists = async (p: string) => (await read(p)) !== undefined;

  // --- Node: npm, yarn, pnpm ---
  const pkgText = await text("package.json");
  if (pkgText) {
    let pkg: { scripts?: Record<string, string>; packageManager?: string; engines?: { node?: string } } = {};
    try {
      pkg = JSON.parse(pkgText);
    } catch {
      // unparsable package.json: not a usable node plan
    }
    const script = pkg.scripts?.test;
    if (typeof script === "string" && script.trim() && !NPM_PLACEHOLDER.test(script)) {
      const pm = pkg.packageManager?.split("@")[0];
      let manager: "npm" | "yarn" | "pnpm" = "npm";
      let lock: string | undefined;
      if (pm === "pnpm" || (await exists("pnpm-lock.yaml"))) {
        manager = "pnpm";
        lock = "pnpm-lock.yaml";
      } else if (pm === "yarn" || (await exists("yarn.lock"))) {
        manager = "yarn";
        lock = "yarn.lock";
      } else if (await exists("package-lock.json")) {
        lock = "package-lock.json";
      } else if (await exists("npm-shrinkwrap.json")) {
        lock = "npm-shrinkwrap.json";
      }
      const hasLock = lock !== undefined && (await exists(lock));
      // A pinned yarn or pnpm (`packageManager: pnpm@10.28.0`) runs through corepack, which fetches
      // that exact version from the npm registry during setup (with network) and keeps it in HOME.
      const pinned = manager !== "npm" && pm === manager && /^(?:pnpm|yarn)@\d+\.\d+\.\d+/.test(pkg.packageManager ?? "");
      // `corepack enable` puts a shim in HOME/.local/bin (on the sandbox's PATH), so the scripts'
      // own `pnpm lint` or `yarn build` find it too; it needs no network once the version is cached.
      const shim = pinned ? `mkdir -p "$HOME/.local/bin" && corepack enable --install-directory "$HOME/.local/bin" ${manager} && ` : "";
      const run = manager;
      const berry = manager === "yarn" && ((await exists(".yarnrc.yml")) || /^yarn@(?:[2-9]|\d{2,})\./.test(pkg.packageManager ?? ""));
      const setup =
        shim +
        (manager === "pnpm"
          ? hasLock ? `${run} install --frozen-lockfile` : `${run} install`
          : manager === "yarn"
            ? berry
              ? `${run} install ${hasLock ? "--immutable" : "--no-immutable"}` // CI=true makes berry immutable by default
              : hasLock ? `${run} install --frozen-lockfile` : `${run} install`
            : hasLock ? "npm ci --no-audit --no-fund" : "npm install --no-audit --no-fund");
      const hint: RunnerKind | undefined = /\bvitest\b/.test(script)
        ? "vitest"
        : /\bjest\b/.test(script)
          ? "jest"
          : /\bmocha\b/.test(script)
            ? "mocha"
            : /\bava\b/.test(script)
              ? "ava"
              : /node\s+(?:[^|;&]*\s)?--test\b|\btap\b/.test(script)
                ? "tap"
                : undefined;
      const runnerStep = findRunnerStep(pkg.scripts ?? {});
      // The Node the repository asks for, when the image's does not satisfy it (node-version.ts).
      const wanted = nodeWanted({ enginesNode: typeof pkg.engines?.node === "string" ? pkg.engines.node : undefined, nvmrc: await text(".nvmrc"), nodeVersion: await text(".node-version") });
      const node = nodeToolchainFor(wanted, runtime.nodeVersion, runtime.arch);
      return {
        ecosystem: "node",
        setup: node ? `${node.install} && ${setup}` : setup,
        ...(node ? { pathPrefix: node.binDir, notes: [node.note] } : {}),
        test: `${shim}${run} test`,
        runnerHint: hint,
        ...(runnerStep ? { runnerStep } : {}),
        lockFiles: [...(hasLock ? [lock!] : []), "package.json"],
        // The pinned manager itself is cached with the install (the test phase has no network).
        cachePaths: [
          { base: "workspace", path: "node_modules" },
          ...(pinned ? [{ base: "home" as const, path: ".cache/node/corepack" }] : []),
          ...(node ? [{ base: "home" as const, path: NODE_TOOLCHAIN_DIR }] : []),
        ],
        source: "detected",
        reason: `package.json \`test\` script${hint ? ` (${hint})` : ""} with ${pinned ? `${pkg.packageManager} through corepack` : manager}${hasLock ? ` and ${lock}` : ", no lock file"}`,
      };
    }
  }

  // --- Python: pytest ---
  const reqFiles = (await Promise.all(["requirements.txt", "requirements-dev.txt", "requirements-test.txt", "requirements/test.txt", "requirements/dev.txt"].map(async (f) => ((await exists(f)) ? f : undefined)))).filter(
    (f): f is string => !!f,
  );
  const pyproject = await text("pyproject.toml");
  const pyMarkers = await Promise.all(["setup.py", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py"].map(exists));
  if (reqFiles.length || pyproject !== undefined || pyMarkers.some(Boolean)) {
    const installable = pyproject !== undefined && /^\s*\[(?:project|tool\.poetry)\]/m.test(pyproject) ? true : pyMarkers[0]!;
    const installs = [...reqFiles.map((f) => `-r ${f}`), ...(installable ? ["-e ."] : [])];
    const pin = pythonPin((await text(".python-version")) ?? "");
    // A Poetry project installs what poetry.lock holds, with poetry, into the same venv (poetry
    // uses the active one): `pip install -e .` would resolve the constraints afresh instead.
    const poetry = (await exists("poetry.lock")) && pyproject !== undefined && /^\s*\[tool\.poetry\]/m.test(pyproject);
    const venv = `${pythonFor(pin)} -m venv --system-site-packages "$HOME/.venv"`;
    const setup = poetry
      ? `${venv} && VIRTUAL_ENV="$HOME/.venv" poetry install --no-root --no-interaction`
      : installs.length
        ? `${venv} && "$HOME/.venv/bin/python" -m pip install -q ${installs.join(" ")}`
        : undefined;
    return {
      ecosystem: "python",
      ...(pin ? { versionPin: pin } : {}),
      setup,
      test: "python3 -m pytest -rfE -p no:cacheprovider",
      runnerHint: "pytest",
      lockFiles: [...reqFiles, ...(pyproject !== undefined ? ["pyproject.toml"] : []), ...(poetry ? ["poetry.lock"] : []), ...(pyMarkers[0] ? ["setup.py"] : []), ...(pyMarkers[1] ? ["setup.cfg"] : [])],
      cachePaths: setup ? [{ base: "home", path: ".venv" }] : [],
      source: "detected",
      reason: `Python project (${[...reqFiles, pyproject !== undefined ? "pyproject.toml" : "", poetry ? "poetry.lock" : ""].filter(Boolean).join(", ") || "pytest config"}): ${poetry ? "poetry install, " : ""}pytest`,
    };
  }

  const goMod = await text("go.mod");
  if (goMod !== undefined) {
    const pin = goPin(goMod);
    return {
      ecosystem: "go",
      ...(pin ? { versionPin: pin } : {}),
      setup: "go mod download",
      test: "go test ./...",
      runnerHint: "go",
      lockFiles: ["go.mod", ...((await exists("go.sum")) ? ["go.sum"] : [])],
      cachePaths: [{ base: "home", path: "go/pkg/mod" }],
      source: "detected",
      reason: "go.mod: go test ./...",
    };
  }
  if (await exists("Cargo.toml")) {
    const toolchainFile = (await exists("rust-toolchain.toml")) ? "rust-toolchain.toml" : (await exists("rust-toolchain")) ? "rust-toolchain" : undefined;
    const pin = toolchainFile ? rustPin((await text(toolchainFile))!, toolchainFile) : undefined;
    return {
      ecosystem: "rust",
      ...(pin ? { versionPin: pin } : {}),
      setup: "cargo fetch",
      test: "cargo test",
      runnerHint: "cargo",
      lockFiles: ["Cargo.toml", ...((await exists("Cargo.lock")) ? ["Cargo.lock"] : [])],
      cachePaths: [{ base: "home", path: ".cargo/registry" }],
      source: "detected",
      reason: "Cargo.toml: cargo test",
    };
  }
  if (await exists("pom.xml")) {
    const mvn = (await exists("mvnw")) ? "./mvnw" : "mvn";
    return {
      ecosystem: "maven",
      // Not dependency:go-offline: it misses what surefire resolves only when tests run (its JUnit
      // provider), so the offline test phase would fail. The test phase with a filter that
      // matches every test class but no method compiles everything and resolves every plugin and
      // the provider (surefire loads it once it finds test classes), running no test. (A filter
      // that matches no class resolves no provider: tried.)
      setup: `${mvn} -B -q test '-Dtest=*#iquestSetupNoTests' -DfailIfNoTests=false -Dsurefire.failIfNoSpecifiedTests=false`,
      // -o: the test phase has no network; offline, Maven says so at once instead of timing out.
      test: `${mvn} -B -o test`,
      runnerHint: "maven",
      lockFiles: ["pom.xml"],
      cachePaths: [{ base: "home", path: ".m2/repository" }],
      source: "detected",
      reason: "pom.xml: maven test",
    };
  }
  const gradleFile = (await exists("build.gradle.kts")) ? "build.gradle.kts" : (await exists("build.gradle")) ? "build.gradle" : undefined;
  if (gradleFile) {
    const gradle = (await exists("gradlew")) ? "./gradlew" : "gradle";
    return {
      ecosystem: "gradle",
      setup: `${gradle} --console=plain testClasses`,
      test: `${gradle} --console=plain test`,
      runnerHint: "gradle",
      lockFiles: [gradleFile, ...((await exists("gradle.lockfile")) ? ["gradle.lockfile"] : [])],
      cachePaths: [{ base: "home", path: ".gradle" }],
      source: "detected",
      reason: `${gradleFile}: gradle test`,
    };
  }
  for (const mk of ["Makefile", "makefile", "GNUmakefile"]) {
    const body = await text(mk);
    if (body && /^test\s*:/m.test(body)) {
      return { ecosystem: "make", test: "make test", lockFiles: [], cachePaths: [], source: "detected", reason: `${mk} has a test target` };
    }
  }
  return null;
}

/**
 * A command that prints the versions of the toolchain a plan runs with (no network needed), for
 * the job card: "ran with node v20.20.2, npm 10.8.2".
 */
export function toolchainProbe(plan: TestPlan): string | undefined {
  const first = (cmd: string) => `(${cmd}) 2>&1 | head -n 1`;
  switch (plan.ecosystem) {
    case "node": {
      const manager = /\b(pnpm|yarn)\b/.exec(plan.test)?.[1] ?? "npm";
      return `echo "node $(node --version 2>&1)"; echo "${manager} $(${manager} --version 2>&1 | head -n 1)"`;
    }
    case "python":
      return first(`"$HOME/.venv/bin/python" --version 2>/dev/null || python3 --version`);
    case "go":
      return first("go version");
    case "rust":
      return first("cargo --version");
    case "maven":
      // -B: no colour codes; the wrapper when the plan runs it.
      return `${first(`${plan.test.startsWith("./mvnw") ? "./mvnw" : "mvn"} -B -v`)}; ${first("java -version")}`;
    case "gradle":
      return `gradle --version 2>/dev/null | grep -m 1 '^Gradle'; ${first("java -version")}`;
    default:
      return undefined;
  }
}
