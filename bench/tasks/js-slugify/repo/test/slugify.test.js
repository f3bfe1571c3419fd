import { test } from "node:test";
import assert from "node:assert/strict";
import { slugify } from "../src/slugify.js";

test("spaces become dashes", () => assert.equal(slugify("a b  c"), "a-b-c"));
