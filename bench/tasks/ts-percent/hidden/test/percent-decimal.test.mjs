import { test } from "node:test";
import assert from "node:assert/strict";
import { percent } from "../dist/percent.js";

test("one decimal", () => assert.equal(percent(1, 3), 33.3));
