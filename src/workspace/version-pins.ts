/**
 * The toolchain versions a repository asks for outside Node (node-version.ts does Node): the
 * `go`/`toolchain` lines of go.mod, rust-toolchain(.toml), .python-version. Pure: detection reads
 * the pin, and once the toolchain probe has said what ran, `describeVersionPin` says on the job
 * card when the two differ, so a failing baseline is not blamed on the code.
 *
 * What is done about a pin where it can be: Python runs the interpreter asked for when the image
 * has it (`pythonFor`); Go 1.21 and later fetch the toolchain go.mod names themselves, through the
 * module proxy, during setup (GOTOOLCHAIN's default). Rust without rustup, and an older Go, run
 * with what there is, and the card says so.
 */
export interface VersionPin {
  tool: "go" | "rust" | "python";
  /** As written: "1.22", "go1.22.5", "1.75.0", "stable", "3.12". */
  wanted: string;
  /** Where it was read ("go.mod", "rust-toolchain.toml", ".python-version"). */
  source: string;
  /** go.mod's `go` line is a minimum; a toolchain file or .python-version names a version. */
  kind: "minimum" | "exact";
}

/** go.mod: the `toolchain` line when present (what the module wants built with), else `go`. */
export function goPin(goMod: string): VersionPin | undefined {
  const toolchain = /^toolchain\s+go(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(goMod)?.[1];
  const go = /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(goMod)?.[1];
  const wanted = toolchain ?? go;
  return wanted ? { tool: "go", wanted, source: "go.mod", kind: "minimum" } : undefined;
}

/** rust-toolchain.toml's `channel`, or the legacy rust-toolchain file's one line. */
export function rustPin(text: string, source: string): VersionPin | undefined {
  const channel = source.endsWith(".toml") ? /^\s*channel\s*=\s*["']([^"']+)["']/m.exec(text)?.[1] : text.trim().split(/\s+/)[0];
  return channel ? { tool: "rust", wanted: channel, source, kind: "exact" } : undefined;
}

/** .python-version: the first line (pyenv writes "3.12" or "3.12.1"; a name like "pypy3.10" is skipped). */
export function pythonPin(text: string): VersionPin | undefined {
  const first = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l && !l.startsWith("#"));
  return first && /^\d+\.\d+(?:\.\d+)?$/.test(first) ? { tool: "python", wanted: first, source: ".python-version", kind: "exact" } : undefined;
}

/** The interpreter to build the venv with: the major.minor asked for when the image has it. */
export function pythonFor(pin: VersionPin | undefined): string {
  const mm = pin?.tool === "python" ? /^(\d+\.\d+)/.exec(pin.wanted)?.[1] : undefined;
  return mm ? `"$(command -v python${mm} || command -v python3)"` : "python3";
}

const parts = (v: string) => v.split(".").map((n) => Number(n));
function compare(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The version the probe line reports for a tool ("go version go1.19.8 linux/amd64", "cargo 1.65.0", "Python 3.11.2"). */
export function reportedVersion(tool: VersionPin["tool"], versions: string): string | undefined {
  const pattern = { go: /\bgo(\d+\.\d+(?:\.\d+)?)\b/, rust: /\b(?:cargo|rustc) (\d+\.\d+\.\d+)/, python: /\bPython (\d+\.\d+\.\d+)/ }[tool];
  return pattern.exec(versions)?.[1];
}

/** For the job card: undefined when what ran satisfies the pin (or nothing can be said). */
export function describeVersionPin(pin: VersionPin | undefined, versions: string | undefined): string | undefined {
  if (!pin || !versions) return undefined;
  const actual = reportedVersion(pin.tool, versions);
  if (!actual) return undefined;
  const name = { go: "Go", rust: "Rust", python: "Python" }[pin.tool];
  let satisfied: boolean;
  if (pin.tool === "rust" && !/^\d/.test(pin.wanted)) {
    // A channel: stable is whatever stable the image has; beta and nightly builds say so in their version.
    satisfied = pin.wanted === "stable" || versions.includes(pin.wanted);
  } else if (pin.kind === "minimum") {
    satisfied = compare(actual, pin.wanted) >= 0;
  } else {
    // "3.12" asks for any 3.12.x; "1.75.0" for exactly that.
    const want = parts(pin.wanted);
    satisfied = compare(parts(actual).slice(0, want.length).join("."), pin.wanted) === 0;
  }
  if (satisfied) return undefined;
  const ask = pin.kind === "minimum" ? `${name} >= ${pin.wanted}` : `${name} ${pin.wanted}`;
  const hint =
    pin.tool === "go" && compare(actual, "1.21") < 0
      ? " (Go before 1.21 cannot fetch the toolchain asked for)"
      : pin.tool === "rust"
        ? " (the image has no rustup to install it)"
        : pin.tool === "python"
          ? " (the image has no such interpreter)"
          : "";
  return `${pin.source} asks for ${ask}; the tests ran with ${name} ${actual}${hint}. Failures may come from the version, not the code; an operator can add the toolchain (SANDBOX_TOOLCHAINS).`;
}
