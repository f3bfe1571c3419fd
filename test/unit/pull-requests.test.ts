import { describe, expect, test } from "@jest/globals";
import nock from "nock";
import { upsertPull } from "../../src/github/pull-requests.js";
import type { GitHub } from "../../src/github/types.js";
import { TestOctokit } from "../support/octokit.js";
import { strictNock } from "../support/strict-nock.js";

/** Test 20: a PR that already exists is updated, never duplicated; GitHub's 422 is handled. */
const API = "https://api.github.com";
const repo = { owner: "o", repo: "r" };
const spec = { branch: "iquest/fix-7", base: "main", title: "Fix #7: x", body: "Fixes #7", draft: true };
const pr = (number: number) => ({ number, html_url: `https://github.com/o/r/pull/${number}`, state: "open", draft: true, head: { sha: "a".repeat(40) } });
let scope: nock.Scope;
const github = () => new TestOctokit({ auth: { token: "t" } }) as unknown as GitHub;

strictNock(API, (s) => (scope = s));

describe("upsertPull", () => {
  test("no open PR for the branch → created", async () => {
    scope.get("/repos/o/r/pulls").query({ head: "o:iquest/fix-7", state: "open", per_page: "10" }).reply(200, []);
    scope.post("/repos/o/r/pulls", { head: "iquest/fix-7", base: "main", title: "Fix #7: x", body: "Fixes #7", draft: true }).reply(201, pr(5));
    expect(await upsertPull(github(), repo, spec)).toMatchObject({ number: 5, created: true });
  });

  test("an open PR for the branch → updated, not duplicated", async () => {
    scope.get("/repos/o/r/pulls").query(true).reply(200, [pr(5)]);
    scope.patch("/repos/o/r/pulls/5", { title: "Fix #7: x", body: "Fixes #7" }).reply(200, pr(5));
    expect(await upsertPull(github(), repo, spec)).toMatchObject({ number: 5, created: false });
  });

  test("422 'already exists' on create (an earlier try that did land) → the existing PR is updated", async () => {
    scope.get("/repos/o/r/pulls").query(true).reply(200, []);
    scope.post("/repos/o/r/pulls").reply(422, { message: "Validation Failed", errors: [{ message: "A pull request already exists for o:iquest/fix-7." }] });
    scope.get("/repos/o/r/pulls").query(true).reply(200, [pr(6)]);
    scope.patch("/repos/o/r/pulls/6").reply(200, pr(6));
    expect(await upsertPull(github(), repo, spec)).toMatchObject({ number: 6, created: false });
  });

  test("another 422 is not swallowed", async () => {
    scope.get("/repos/o/r/pulls").query(true).reply(200, []);
    scope.post("/repos/o/r/pulls").reply(422, { message: "Validation Failed", errors: [{ message: "No commits between main and iquest/fix-7" }] });
    await expect(upsertPull(github(), repo, spec)).rejects.toThrow(/No commits between/);
  });

  test("a body over GitHub's limit is clipped, not refused", async () => {
    scope.get("/repos/o/r/pulls").query(true).reply(200, []);
    scope.post("/repos/o/r/pulls", (b: { body: string }) => b.body.length <= 65_536 && b.body.endsWith("limit)")).reply(201, pr(7));
    expect(await upsertPull(github(), repo, { ...spec, body: "x".repeat(100_000) })).toMatchObject({ number: 7 });
  });
});
