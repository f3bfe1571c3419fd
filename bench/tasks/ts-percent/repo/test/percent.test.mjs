import { test } from "node:test";
import assert from "node:assert/strict";
import { percent } from "../dist/percent.js";

test("zero total", () => assert.equal(percent(1, 0), 0));
test("half", () => assert.equal(percent(1, 2), 50));
