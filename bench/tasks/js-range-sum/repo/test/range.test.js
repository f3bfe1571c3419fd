import { test } from "node:test";
import assert from "node:assert/strict";
import { sumRange } from "../src/range.js";

test("empty range", () => assert.equal(sumRange(5, 4), 0));
