import { HttpError, notFound, validationFailed } from "../http-error.js";
import type { SimAnnotation, SimCheckRun, SimRepo } from "../state.js";
import { isoNow } from "./issues.js";
import { commitFor } from "./repos.js";
import { ok, type RestContext, type Router, type SimServices } from "./router.js";

const STATUSES = new Set(["queued", "in_progress", "completed", "waiting", "requested", "pending"]);
const CONCLUSIONS = new Set(["action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"]);
const MAX_OUTPUT = 65_535;

/**
 * Check runs: create and update (only by the app that owns the run, 50 annotations a call,
 * 65,535-character summary and text), get, annotations, and the list for a ref.
 */
export function registerChecks(router: Router): void {
  router.add("POST /repos/{owner}/{repo}/check-runs", async (ctx) => {
    const repo = ctx.repo(["checks", "write"]);
    const name = ctx.string("name", { required: true })!;
    const headSha = ctx.string("head_sha", { required: true })!;
    const sha = await repo.git.resolve(headSha);
    if (!sha || !/^[0-9a-f]{40}$/.test(headSha)) throw validationFailed({ resource: "CheckRun", code: "invalid", field: "head_sha", message: `No commit found for SHA: ${headSha}` });
    const run: SimCheckRun = {
      id: ctx.sim.state.nextId("checkRun"),
      repoId: repo.id,
      app: { id: ctx.sim.app.id, slug: ctx.sim.app.slug, name: ctx.sim.app.name },
      name,
      headSha: sha,
      status: "queued",
      conclusion: null,
      startedAt: isoNow(ctx.sim),
      completedAt: null,
      detailsUrl: null,
      externalId: null,
      output: { title: null, summary: null, text: null, annotations: [] },
      actions: [],
      updates: [],
    };
    applyCheckRunFields(ctx, run, ctx.body);
    ctx.sim.state.checkRuns.push(run);
    emitCheckRun(ctx.sim, repo, run, ctx.actor(), "created");
    if (run.status === "completed") emitCheckRun(ctx.sim, repo, run, ctx.actor(), "completed");
    return ok(ctx.sim.shapes.checkRun(run), 201);
  });

  const runFor = (ctx: RestContext, level: "read" | "write") => {
    const repo = ctx.repo(["checks", level]);
    const run = ctx.sim.state.checkRuns.find((c) => c.id === ctx.int("check_run_id") && c.repoId === repo.id);
    if (!run) throw notFound();
    return { repo, run };
  };

  router.add("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", (ctx) => {
    const { repo, run } = runFor(ctx, "write");
    // Only the app that created a check run may change it.
    if (run.app.id !== ctx.sim.app.id) throw new HttpError(403, "Invalid app_id `" + ctx.sim.app.id + "` - check run can only be modified by the GitHub App that created it.");
    const wasCompleted = run.status === "completed";
    applyCheckRunFields(ctx, run, ctx.body);
    if (!wasCompleted && run.status === "completed") emitCheckRun(ctx.sim, repo, run, ctx.actor(), "completed");
    return ok(ctx.sim.shapes.checkRun(run));
  });

  router.add("GET /repos/{owner}/{repo}/check-runs/{check_run_id}", (ctx) => ok(ctx.sim.shapes.checkRun(runFor(ctx, "read").run)));

  router.add("GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", (ctx) => {
    const { run } = runFor(ctx, "read");
    return ctx.page(run.output.annotations, (a) => ({
      ...a,
      blob_href: `${ctx.sim.urls.web}/blob/${run.headSha}/${a.path}`,
      start_column: a.start_column ?? null,
      end_column: a.end_column ?? null,
      title: a.title ?? null,
      raw_details: a.raw_details ?? null,
    }));
  });

  router.add("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", async (ctx) => {
    const repo = ctx.repo(["checks", "read"]);
    const sha = await commitFor(repo, ctx.params.ref);
    let runs = ctx.sim.state.checkRuns.filter((c) => c.repoId === repo.id && c.headSha === sha);
    if (ctx.query.check_name) runs = runs.filter((c) => c.name === ctx.query.check_name);
    if (ctx.query.status) runs = runs.filter((c) => c.status === ctx.query.status);
    if (ctx.query.app_id) runs = runs.filter((c) => String(c.app.id) === ctx.query.app_id);
    if ((ctx.query.filter ?? "latest") === "latest") {
      // The newest run per name (and app), as GitHub's default filter.
      const latest = new Map<string, SimCheckRun>();
      for (const r of runs) latest.set(`${r.app.id}/${r.name}`, r);
      runs = [...latest.values()];
    }
    runs = [...runs].sort((a, b) => b.id - a.id);
    const page = ctx.page(runs, (r) => ctx.sim.shapes.checkRun(r));
    return { ...page, body: { total_count: runs.length, check_runs: page.body } };
  });
}

function applyCheckRunFields(ctx: RestContext, run: SimCheckRun, body: Record<string, unknown>): void {
  run.updates.push(structuredClone(body));
  if (typeof body.name === "string") run.name = body.name;
  if (typeof body.details_url === "string") run.detailsUrl = body.details_url;
  if (typeof body.external_id === "string") run.externalId = body.external_id;
  if (typeof body.started_at === "string") run.startedAt = body.started_at;
  if (body.status !== undefined) {
    if (typeof body.status !== "string" || !STATUSES.has(body.status)) throw validationFailed({ resource: "CheckRun", field: "status", code: "invalid" });
    run.status = body.status as SimCheckRun["status"];
  }
  if (body.conclusion !== undefined && body.conclusion !== null) {
    if (typeof body.conclusion !== "string" || !CONCLUSIONS.has(body.conclusion)) {
      throw validationFailed({ resource: "CheckRun", field: "conclusion", code: "invalid" });
    }
    // GitHub: a conclusion completes the run.
    run.conclusion = body.conclusion;
    run.status = "completed";
  }
  if (run.status === "completed" && !run.conclusion) {
    throw validationFailed({ resource: "CheckRun", code: "custom", field: "conclusion", message: "conclusion can't be blank when status is completed" });
  }
  if (run.status === "completed") run.completedAt = typeof body.completed_at === "string" ? body.completed_at : (run.completedAt ?? isoNow(ctx.sim));
  if (body.output !== undefined) {
    const out = body.output as Record<string, unknown>;
    if (typeof out !== "object" || out === null) throw validationFailed({ resource: "CheckRun", field: "output", code: "invalid" });
    if (typeof out.title === "string") run.output.title = out.title;
    if (typeof out.summary === "string") {
      if (out.summary.length > MAX_OUTPUT) throw validationFailed({ resource: "CheckRun", code: "custom", field: "output.summary", message: `Output summary exceeds a maximum length of ${MAX_OUTPUT} characters.` });
      run.output.summary = out.summary;
    } else if (out.title !== undefined && run.output.summary === null) {
      throw validationFailed({ resource: "CheckRun", code: "missing_field", field: "output.summary" });
    }
    if (typeof out.text === "string") {
      if (out.text.length > MAX_OUTPUT) throw validationFailed({ resource: "CheckRun", code: "custom", field: "output.text", message: `Output text exceeds a maximum length of ${MAX_OUTPUT} characters.` });
      run.output.text = out.text;
    }
    if (Array.isArray(out.annotations)) {
      if (out.annotations.length > 50) throw validationFailed({ resource: "CheckRun", code: "custom", field: "output.annotations", message: "Only 50 annotations are allowed per request" });
      run.output.annotations.push(...(out.annotations as SimAnnotation[]));
    }
  }
  if (Array.isArray(body.actions)) run.actions = body.actions;
}

export function emitCheckRun(sim: SimServices, repo: SimRepo, run: SimCheckRun, sender: string, action: "created" | "completed"): void {
  sim.effects.emit("check_run", repo, sender, () => ({ action, check_run: sim.shapes.checkRun(run) }));
}
