import { validationFailed } from "../http-error.js";
import type { SimStatus } from "../state.js";
import { isoNow } from "./issues.js";
import { commitFor } from "./repos.js";
import { ok, type Router } from "./router.js";

const STATES = new Set(["error", "failure", "pending", "success"]);

/**
 * Commit statuses: the older CI signal next to check runs. The combined status follows
 * GitHub's rule: the latest status per context; failure or error wins, then pending.
 */
export function registerStatuses(router: Router): void {
  router.add("POST /repos/{owner}/{repo}/statuses/{sha}", async (ctx) => {
    const repo = ctx.repo(["statuses", "write"]);
    const sha = await commitFor(repo, ctx.params.sha);
    const state = ctx.string("state", { required: true })!;
    if (!STATES.has(state)) throw validationFailed({ resource: "Status", field: "state", code: "invalid" });
    const status: SimStatus = {
      id: ctx.sim.state.nextId("status"),
      repoId: repo.id,
      sha,
      state: state as SimStatus["state"],
      context: ctx.string("context") ?? "default",
      description: ctx.string("description") ?? null,
      targetUrl: ctx.string("target_url") ?? null,
      creator: ctx.actor(),
      createdAt: isoNow(ctx.sim),
    };
    ctx.sim.state.statuses.push(status);
    return ok(statusJson(ctx.sim.shapes.user(status.creator), status), 201);
  });

  router.add("GET /repos/{owner}/{repo}/commits/{ref}/statuses", async (ctx) => {
    const repo = ctx.repo(["statuses", "read"]);
    const sha = await commitFor(repo, ctx.params.ref);
    const list = ctx.sim.state.statuses.filter((s) => s.repoId === repo.id && s.sha === sha).reverse();
    return ctx.page(list, (s) => statusJson(ctx.sim.shapes.user(s.creator), s));
  });

  router.add("GET /repos/{owner}/{repo}/commits/{ref}/status", async (ctx) => {
    const repo = ctx.repo(["statuses", "read"]);
    const sha = await commitFor(repo, ctx.params.ref);
    const latest = new Map<string, SimStatus>();
    for (const s of ctx.sim.state.statuses.filter((x) => x.repoId === repo.id && x.sha === sha)) latest.set(s.context, s);
    const statuses = [...latest.values()];
    const states = new Set(statuses.map((s) => s.state));
    const state = states.has("failure") || states.has("error") ? "failure" : states.has("pending") || statuses.length === 0 ? "pending" : "success";
    return ok({
      state,
      sha,
      total_count: statuses.length,
      statuses: statuses.map((s) => statusJson(ctx.sim.shapes.user(s.creator), s)),
      repository: ctx.sim.shapes.repo(repo),
    });
  });
}

function statusJson(creator: unknown, s: SimStatus) {
  return {
    id: s.id,
    node_id: Buffer.from(`0:StatusContext${s.id}`).toString("base64"),
    state: s.state,
    description: s.description,
    target_url: s.targetUrl,
    context: s.context,
    created_at: s.createdAt,
    updated_at: s.createdAt,
    creator,
  };
}
