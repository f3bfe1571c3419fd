import { call, submit, bash, view } from "./fake-vllm/index.js";
import type { FakeReply } from "./fake-vllm/index.js";

/**
 * A small shop library for review tests, the commits of a PR against it, and the model's side
 * of reviewing each push. Line numbers in comments are the file's lines at that push.
 */

export const CART_BASE = [
  "export function total(items) {",
  "  let sum = 0;",
  "  for (const item of items) {",
  "    sum += item.price;",
  "  }",
  "  return sum;",
  "}",
  "",
].join("\n");

/** Push 1: an off-by-one loop (line 3) and a new average() (lines 9-11). */
export const CART_PUSH1 = [
  "export function total(items) {",
  "  let sum = 0;",
  "  for (let i = 0; i <= items.length; i++) {",
  "    sum += items[i].price;",
  "  }",
  "  return sum;",
  "}",
  "",
  "export function average(items) {",
  "  return total(items) / items.length;",
  "}",
  "",
].join("\n");

/** Push 2: average() handles empty lists; a new tax() whose rate is wrong (line 18). */
export const CART_PUSH2 = `${CART_PUSH1.replace(
  "export function average(items) {\n  return total(items) / items.length;\n}\n",
  "export function average(items) {\n  if (items.length === 0) return 0;\n  return total(items) / items.length;\n}\n",
)}\n\n\n\nexport function tax(amount) {\n  return amount * 0.2;\n}\n`;

/** Push 3: a new round() that drops cents (line 22). */
export const CART_PUSH3 = `${CART_PUSH2}\nexport function round(amount) {\n  return Math.round(amount);\n}\n`;

export const FORMAT_JS = ["export function formatPrice(amount) {", "  return `$${amount.toFixed(2)}`;", "}", ""].join("\n");

export const CART_TEST = [
  'import { test } from "node:test";',
  'import assert from "node:assert/strict";',
  'import { total } from "../src/cart.js";',
  "",
  'test("total adds the prices", () => {',
  "  assert.equal(total([{ price: 2 }, { price: 3 }]), 5);",
  "});",
  "",
].join("\n");

export const PACKAGE_JSON = JSON.stringify({ name: "shop", version: "1.0.0", type: "module", scripts: { test: "node --test" } }, null, 2) + "\n";

export function shopFiles(extra: Record<string, string> = {}): Record<string, string> {
  return { "package.json": PACKAGE_JSON, "src/cart.js": CART_BASE, "src/format.js": FORMAT_JS, "test/cart.test.js": CART_TEST, ...extra };
}

export const LOOP_LINE = "  for (let i = 0; i <= items.length; i++) {";
/** How node's test runner reports the crash the off-by-one causes. */
export const TYPE_ERROR = `error: "Cannot read properties of undefined (reading 'price')"`;

export interface FindingCall {
  path: string;
  line: number;
  start_line?: number;
  severity: string;
  title: string;
  explanation: string;
  quote: string;
  replacement?: string;
  evidence?: string;
}

export const finding = (args: FindingCall): FakeReply => call("report_finding", args as unknown as Record<string, unknown>);

export const OFF_BY_ONE: FindingCall = {
  path: "src/cart.js",
  line: 3,
  severity: "major",
  title: "Loop reads past the end of items",
  explanation: "`i <= items.length` runs one step too far: `items[items.length]` is undefined, so reading `.price` throws.",
  quote: LOOP_LINE,
  replacement: "  for (let i = 0; i < items.length; i++) {",
  evidence: TYPE_ERROR,
};

/** The model's review of push 1: runs the tests, 4 reports (one hallucinated, one nit), submits. */
export function reviewPush1(): FakeReply[] {
  return [
    view("src/cart.js"),
    bash("npm test"),
    finding(OFF_BY_ONE),
    finding({
      path: "src/format.js",
      line: 2,
      severity: "minor",
      title: "Currency symbol is hard-coded",
      explanation: "Prices are always shown in dollars; the shop also sells in euros.",
      quote: "return `$${amount.toFixed(2)}`;",
    }),
    finding({
      path: "src/cart.js",
      line: 10,
      severity: "major",
      title: "Average ignores item weights",
      explanation: "Weighted items are averaged as if equal.",
      quote: "return weightedSum(items) / weights;",
    }),
    finding({
      path: "src/cart.js",
      line: 10,
      severity: "nit",
      title: "Name the divisor",
      explanation: "A named constant would read better.",
      quote: "  return total(items) / items.length;",
    }),
    submit("Rewrites total() with an index loop and adds average()."),
  ];
}

/** Push 2: the old point again (reworded), a new one on new code, one on old PR code. */
export function reviewPush2(): FakeReply[] {
  return [
    finding({ ...OFF_BY_ONE, line: 4, title: "Off-by-one: the loop reads past the end of items", evidence: undefined as unknown as string }),
    finding({
      path: "src/cart.js",
      line: 18,
      severity: "major",
      title: "tax() returns the tax, not the price with tax",
      explanation: "Callers use tax() as the gross amount; `amount * 0.2` is only the tax part.",
      quote: "  return amount * 0.2;",
      replacement: "  return amount * 1.2;",
    }),
    finding({
      path: "src/cart.js",
      line: 4,
      severity: "minor",
      title: "Prices are not validated",
      explanation: "A missing price makes the sum NaN.",
      quote: "    sum += items[i].price;",
    }),
    submit("Handles empty lists in average() and adds tax()."),
  ];
}

/** Push 3: both earlier points again, and a new one. */
export function reviewPush3(): FakeReply[] {
  return [
    finding({
      path: "src/cart.js",
      line: 18,
      severity: "major",
      title: "tax() returns only the tax, not the gross price",
      explanation: "`amount * 0.2` is the tax part only; callers expect the gross amount.",
      quote: "  return amount * 0.2;",
    }),
    finding({ ...OFF_BY_ONE, evidence: undefined as unknown as string }),
    finding({
      path: "src/cart.js",
      line: 22,
      severity: "major",
      title: "round() drops the cents",
      explanation: "Math.round rounds to whole units; prices need two decimals.",
      quote: "  return Math.round(amount);",
      replacement: "  return Math.round(amount * 100) / 100;",
    }),
    submit("Adds round()."),
  ];
}
