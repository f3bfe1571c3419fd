import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration } from "../dist/duration.js";

test("minutes", () => assert.equal(parseDuration("2m"), 120));
