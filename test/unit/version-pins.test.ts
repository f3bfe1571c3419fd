import { describe, expect, test } from "@jest/globals";
import { describeVersionPin, goPin, pythonFor, pythonPin, reportedVersion, rustPin } from "../../src/workspace/version-pins.js";
import { detectTestPlan } from "../../src/workspace/test-detect.js";

const reader = (files: Record<string, string>) => async (p: string) => (p in files ? Buffer.from(files[p]!) : undefined);

describe("version pins: read", () => {
  test("go.mod: the toolchain line wins over the go line; neither → none", () => {
    expect(goPin("module x\n\ngo 1.21\n\ntoolchain go1.22.5\n")).toEqual({ tool: "go", wanted: "1.22.5", source: "go.mod", kind: "minimum" });
    expect(goPin("module x\n\ngo 1.19\n")).toMatchObject({ wanted: "1.19" });
    expect(goPin("module x\n")).toBeUndefined();
  });

  test("rust-toolchain.toml's channel, the legacy file's line", () => {
    expect(rustPin('[toolchain]\nchannel = "1.75.0"\ncomponents = ["rustfmt"]\n', "rust-toolchain.toml")).toEqual({ tool: "rust", wanted: "1.75.0", source: "rust-toolchain.toml", kind: "exact" });
    expect(rustPin("nightly-2024-01-01\n", "rust-toolchain")).toMatchObject({ wanted: "nightly-2024-01-01" });
    expect(rustPin("[toolchain]\nprofile = \"minimal\"\n", "rust-toolchain.toml")).toBeUndefined();
  });

  test(".python-version: a version, not an implementation name or a comment", () => {
    expect(pythonPin("# pinned\n3.12\n")).toEqual({ tool: "python", wanted: "3.12", source: ".python-version", kind: "exact" });
    expect(pythonPin("pypy3.10\n")).toBeUndefined();
    expect(pythonFor(pythonPin("3.12.1"))).toBe('"$(command -v python3.12 || command -v python3)"');
    expect(pythonFor(undefined)).toBe("python3");
  });

  test("detection carries the pin; the Python venv is made with the interpreter asked for when there is one", async () => {
    const py = await detectTestPlan(reader({ "requirements.txt": "x\n", ".python-version": "3.12\n" }));
    expect(py!.versionPin).toMatchObject({ tool: "python", wanted: "3.12" });
    expect(py!.setup).toMatch(/^"\$\(command -v python3\.12 \|\| command -v python3\)" -m venv /);
    expect((await detectTestPlan(reader({ "go.mod": "module x\ngo 1.22\n" })))!.versionPin).toMatchObject({ tool: "go", wanted: "1.22" });
    expect((await detectTestPlan(reader({ "Cargo.toml": "[package]\n", "rust-toolchain.toml": '[toolchain]\nchannel = "stable"\n' })))!.versionPin).toMatchObject({ tool: "rust", wanted: "stable" });
    // A pinned test command keeps the pin: the version still matters.
    expect((await detectTestPlan(reader({ "go.mod": "module x\ngo 1.22\n" }), { test: "make check" }))!.versionPin).toMatchObject({ wanted: "1.22" });
  });
});

describe("version pins: said on the card when what ran differs", () => {
  test("the probe's lines are read per tool", () => {
    expect(reportedVersion("go", "go version go1.19.8 linux/amd64")).toBe("1.19.8");
    expect(reportedVersion("rust", "cargo 1.65.0")).toBe("1.65.0");
    expect(reportedVersion("python", "Python 3.11.2")).toBe("3.11.2");
  });

  test("satisfied → nothing", () => {
    expect(describeVersionPin(goPin("go 1.19\n"), "go version go1.19.8 linux/amd64")).toBeUndefined();
    expect(describeVersionPin(goPin("go 1.18\n"), "go version go1.19.8 linux/amd64")).toBeUndefined();
    expect(describeVersionPin(pythonPin("3.11"), "Python 3.11.2")).toBeUndefined();
    expect(describeVersionPin(rustPin("[toolchain]\nchannel = \"stable\"\n", "rust-toolchain.toml"), "cargo 1.65.0")).toBeUndefined();
    expect(describeVersionPin(rustPin("1.65", "rust-toolchain"), "cargo 1.65.0")).toBeUndefined();
    expect(describeVersionPin(undefined, "Python 3.11.2")).toBeUndefined();
    expect(describeVersionPin(pythonPin("3.12"), undefined)).toBeUndefined();
  });

  test("not satisfied → the ask, what ran, why it could not be had", () => {
    expect(describeVersionPin(goPin("go 1.21\ntoolchain go1.22.5\n"), "go version go1.19.8 linux/amd64")).toBe(
      "go.mod asks for Go >= 1.22.5; the tests ran with Go 1.19.8 (Go before 1.21 cannot fetch the toolchain asked for). Failures may come from the version, not the code; an operator can add the toolchain (SANDBOX_TOOLCHAINS).",
    );
    expect(describeVersionPin(pythonPin("3.12"), "Python 3.11.2")).toMatch(/^\.python-version asks for Python 3\.12; the tests ran with Python 3\.11\.2 \(the image has no such interpreter\)/);
    expect(describeVersionPin(rustPin('[toolchain]\nchannel = "1.75.0"\n', "rust-toolchain.toml"), "cargo 1.65.0")).toMatch(/^rust-toolchain\.toml asks for Rust 1\.75\.0; the tests ran with Rust 1\.65\.0 \(the image has no rustup/);
    expect(describeVersionPin(rustPin("nightly\n", "rust-toolchain"), "cargo 1.65.0")).toMatch(/asks for Rust nightly/);
  });
});
