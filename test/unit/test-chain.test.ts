import { describe, expect, test } from "@jest/globals";
import { findRunnerStep, runnerStepCommand, splitAndChain } from "../../src/workspace/test-chain.js";

/** Finding the test runner's own step in a chained `test` script (pure). */
describe("splitAndChain", () => {
  test("top-level && only; quotes kept whole; other operators are not a plain chain", () => {
    expect(splitAndChain("xo && c8 ava && tsd")).toEqual(["xo", "c8 ava", "tsd"]);
    expect(splitAndChain(`node -e "a && b" && jest`)).toEqual([`node -e "a && b"`, "jest"]);
    expect(splitAndChain("lint || true && jest")).toBeUndefined();
    expect(splitAndChain("jest; echo done")).toBeUndefined();
    expect(splitAndChain("jest | tee out")).toBeUndefined();
    expect(splitAndChain(`node -e "unterminated`)).toBeUndefined();
  });
});

describe("findRunnerStep", () => {
  test.each([
    [{ test: "xo && c8 ava && tsd" }, { command: "c8 ava", before: ["xo"] }],
    [{ test: "npm run lint && jest --ci", lint: "eslint . && tsc --noEmit" }, { command: "jest --ci", before: ["eslint .", "tsc --noEmit"] }],
    [{ test: "vitest run", pretest: "npm run build" }, { command: "vitest run", before: ["npm run build"] }],
    [{ test: "tsc && cross-env NODE_ENV=test mocha 'test/**/*.js'" }, { command: "cross-env NODE_ENV=test mocha 'test/**/*.js'", before: ["tsc"] }],
    [{ test: "node --test && npm run check:type:ts", "check:type:ts": "tsc -p tsconfig.ts.json" }, { command: "node --test", before: [] }],
    [{ test: "pnpm lint && vitest run --typecheck", lint: "eslint ." }, { command: "vitest run --typecheck", before: ["eslint ."] }],
    // npm-run-all: run-s and its globs (`test:*` one level), options skipped, scripts opened up.
    [{ test: "run-s lint test:*", lint: "eslint .", "test:unit": "jest --ci", "test:unit:watch": "jest --watch" }, { command: "jest --ci", before: ["eslint ."] }],
    [{ test: "npm-run-all --print-label -s build test:unit", build: "tsc -b", "test:unit": "mocha" }, { command: "mocha", before: ["tsc -b"] }],
    [{ test: "run-p -c --max-parallel 2 lint typecheck test:node", lint: "xo", typecheck: "tsc", "test:node": "ava" }, { command: "ava", before: ["xo", "tsc"] }],
    [{ test: "jest", pretest: "run-s lint", lint: "eslint src" }, { command: "jest", before: ["eslint src"] }],
  ])("%j → %j", (scripts, step) => {
    expect(findRunnerStep(scripts)).toEqual(step);
  });
  test.each([
    [{ test: "jest" }, "the runner alone: nothing to split off"],
    [{ test: "jest && mocha" }, "two runners: which one is the baseline is not ours to choose"],
    [{ test: "xo && tsd" }, "no known runner"],
    [{ test: "lint || jest" }, "not a plain && chain"],
    [{}, "no test script"],
    [{ test: "run-s lint test:*", lint: "eslint .", "test:a": "jest", "test:b": "vitest" }, "two runners behind one glob"],
  ])("%j → none (%s)", (scripts, _why) => {
    expect(findRunnerStep(scripts as Record<string, string>)).toBeUndefined();
  });
  test("the command puts the project's own binaries first", () => {
    expect(runnerStepCommand({ command: "c8 ava", before: ["xo"] })).toBe('PATH="$PWD/node_modules/.bin:$PATH"; c8 ava');
  });
});
