import { describe, expect, test } from "@jest/globals";
import { setupFailureLine } from "../../src/workspace/setup-failure.js";

describe("setupFailureLine: the line of a failed setup that says why", () => {
  test("pip's build-dependency failure: the missing requirement, not 'subprocess-exited-with-error'", () => {
    const output = [
      "  error: subprocess-exited-with-error",
      "  × pip subprocess to install build dependencies did not run successfully.",
      "  │ exit code: 1",
      "  ╰─> [3 lines of output]",
      "      Looking in indexes: http://127.0.0.1:4000/simple/",
      "      ERROR: Could not find a version that satisfies the requirement setuptools>=77 (from versions: 66.1.1)",
      "      ERROR: No matching distribution found for setuptools>=77",
      "error: subprocess-exited-with-error",
      "note: This error originates from a subprocess, and is likely not a problem with pip.",
    ].join("\n");
    // The first of pip's two lines: it also says which versions the index has.
    expect(setupFailureLine(output)).toBe("ERROR: Could not find a version that satisfies the requirement setuptools>=77 (from versions: 66.1.1)");
  });

  test("npm: the E404 line, not the log-file pointer after it", () => {
    const output = [
      "npm error code E404",
      "npm error 404 Not Found - GET https://registry.example.com/left-pad - Not found",
      "npm error 404  'left-pad@^9.0.0' is not in this registry.",
      "npm error A complete log of this run can be found in: /home/x/.npm/_logs/1.log",
    ].join("\n");
    expect(setupFailureLine(output)).toBe("npm error 404 Not Found - GET https://registry.example.com/left-pad - Not found");
  });

  test("a missing tool; ANSI colours are dropped; a long line is cut", () => {
    expect(setupFailureLine("\x1b[31mbash: line 1: pnpm: command not found\x1b[0m\n")).toBe("bash: line 1: pnpm: command not found");
    expect(setupFailureLine(`error: ${"x".repeat(500)}`, 50)).toHaveLength(50);
  });

  test("nothing recognised: the last error-looking line, else the last line; empty output → undefined", () => {
    expect(setupFailureLine("step 1\nfatal: something odd\nstep 3\n")).toBe("fatal: something odd");
    expect(setupFailureLine("just\nlines\n")).toBe("lines");
    expect(setupFailureLine("")).toBeUndefined();
  });
});
