import { beforeEach, describe, expect, test } from "@jest/globals";
import nock from "nock";
import { createCommentOnce } from "../../src/github/comments.js";
import { describeRequestError } from "../../src/github/request-errors.js";
import type { GitHub } from "../../src/github/types.js";
import { retryDelayMs } from "../../src/jobs/run-job.js";
import { TestOctokit } from "../support/octokit.js";
import { strictNock } from "../support/strict-nock.js";

/** A card create whose answer is lost must not make a second card (e2e/fix-outages shows it end to end). */
const API = "https://api.github.com";
const repo = { owner: "o", repo: "r" };
const MARKER = "<!-- iquest-card:fix-1 -->";
const body = `${MARKER}\ncard`;
let scope: nock.Scope;
const github = () => new TestOctokit({ auth: { token: "t" } }) as unknown as GitHub;
const waits: number[] = [];
const sleep = async (ms: number) => {
  waits.push(ms);
};
const botComment = (id: number) => ({ id, body, user: { login: "iquest-bot[bot]", type: "Bot" } });

strictNock(API, (s) => (scope = s));
beforeEach(() => {
  waits.length = 0;
});

describe("createCommentOnce", () => {
  test("created → its id, one request", async () => {
    scope.post("/repos/o/r/issues/3/comments", { body }).reply(201, botComment(11));
    expect(await createCommentOnce(github(), repo, 3, body, MARKER, sleep)).toEqual({ id: 11 });
    expect(waits).toEqual([]);
  });

  test("502 after GitHub made it → found by its marker, not posted again", async () => {
    scope.post("/repos/o/r/issues/3/comments").reply(502, { message: "Server Error" });
    scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, [{ id: 5, body: "a human", user: { login: "alice", type: "User" } }, botComment(12)]);
    expect(await createCommentOnce(github(), repo, 3, body, MARKER, sleep)).toEqual({ id: 12 });
    expect(waits).toEqual([1000]);
  });

  test("502 before GitHub made it → looked up, then posted again", async () => {
    scope.post("/repos/o/r/issues/3/comments").reply(503, { message: "Service Unavailable" });
    scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, []);
    scope.post("/repos/o/r/issues/3/comments").reply(201, botComment(13));
    expect(await createCommentOnce(github(), repo, 3, body, MARKER, sleep)).toEqual({ id: 13 });
  });

  test("5xx every time → bounded: three posts, then the error", async () => {
    for (let i = 0; i < 3; i++) scope.post("/repos/o/r/issues/3/comments").reply(502, { message: "Server Error" });
    for (let i = 0; i < 2; i++) scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, []);
    const err = await createCommentOnce(github(), repo, 3, body, MARKER, sleep).catch((e: unknown) => e);
    expect((err as { status: number }).status).toBe(502);
    expect(waits).toEqual([1000, 4000]);
  });

  test("a 4xx is not retried (it did not land, and will not)", async () => {
    scope.post("/repos/o/r/issues/3/comments").reply(404, { message: "Not Found" });
    const err = await createCommentOnce(github(), repo, 3, body, MARKER, sleep).catch((e: unknown) => e);
    expect((err as { status: number }).status).toBe(404);
  });
});

describe("what a failed job's card says", () => {
  test("a GitHub API failure names the call and GitHub's answer", async () => {
    scope.post("/repos/o/r/pulls").reply(502, { message: "Server Error" });
    const err = await github().rest.pulls.create({ ...repo, head: "b", base: "main", title: "t" }).catch((e: unknown) => e);
    expect(describeRequestError(err)).toBe('GitHub answered HTTP 502 to `POST /repos/o/r/pulls` ("Server Error")');
    expect(describeRequestError(new Error("git push failed"))).toBeUndefined();
  });

  test("when the queue retries: BullMQ's fixed and exponential backoff", () => {
    expect(retryDelayMs({ type: "exponential", delay: 30_000 }, 1)).toBe(30_000);
    expect(retryDelayMs({ type: "exponential", delay: 30_000 }, 2)).toBe(60_000);
    expect(retryDelayMs({ type: "fixed", delay: 5000 }, 2)).toBe(5000);
    expect(retryDelayMs(7000, 3)).toBe(7000);
    expect(retryDelayMs(undefined, 1)).toBeUndefined();
  });
});
