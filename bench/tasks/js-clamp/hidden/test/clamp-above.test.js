import { test } from "node:test";
import assert from "node:assert/strict";
import { clamp } from "../src/clamp.js";

test("above the range", () => assert.equal(clamp(15, 0, 10), 10));
