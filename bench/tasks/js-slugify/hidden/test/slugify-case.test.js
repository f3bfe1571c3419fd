import { test } from "node:test";
import assert from "node:assert/strict";
import { slugify } from "../src/slugify.js";

test("lower case", () => assert.equal(slugify("Hello World"), "hello-world"));
