import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDuration } from "../dist/duration.js";

test("seconds", () => assert.equal(parseDuration("5s"), 5));
test("hours", () => assert.equal(parseDuration("1h"), 3600));
