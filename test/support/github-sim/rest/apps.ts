import { mintToken } from "../auth.js";
import { HttpError, notFound } from "../http-error.js";
import type { DeliveryRecord } from "../state.js";
import { ok, type Router } from "./router.js";

/**
 * App-level endpoints (JWT): the app itself, its installations, installation tokens, and the
 * webhook deliveries log with redelivery (what a reconciler uses to find lost deliveries).
 */
export function registerApps(router: Router): void {
  router.add("GET /app", (ctx) => {
    ctx.requireApp();
    return ok(ctx.sim.shapes.appJson());
  });

  router.add("GET /app/installations", (ctx) => {
    ctx.requireApp();
    return ctx.page(ctx.sim.state.installations, (i) => ctx.sim.shapes.installation(i));
  });

  router.add("GET /app/installations/{installation_id}", (ctx) => {
    ctx.requireApp();
    const inst = ctx.sim.state.installations.find((i) => i.id === ctx.int("installation_id"));
    if (!inst) throw notFound();
    return ok(ctx.sim.shapes.installation(inst));
  });

  router.add("GET /repos/{owner}/{repo}/installation", (ctx) => {
    ctx.requireApp();
    const repo = ctx.sim.state.findRepo(ctx.params.owner!, ctx.params.repo!);
    const inst = repo && ctx.sim.state.installationFor(repo);
    if (!inst) throw notFound();
    return ok(ctx.sim.shapes.installation(inst));
  });

  router.add("POST /app/installations/{installation_id}/access_tokens", (ctx) => {
    ctx.requireApp();
    const record = mintToken(
      ctx.sim.state,
      {
        installationId: ctx.int("installation_id"),
        repository_ids: ctx.body.repository_ids,
        repositories: ctx.body.repositories,
        permissions: ctx.body.permissions,
      },
      { nowMs: ctx.sim.now(), ttlMs: ctx.sim.tokenTtlMs, longToken: ctx.sim.longTokens, via: "api" },
    );
    const inst = ctx.sim.state.installations.find((i) => i.id === record.installationId)!;
    const narrowed = record.requested.repository_ids !== undefined || record.requested.repositories !== undefined;
    return ok(
      {
        token: record.token,
        expires_at: record.expiresAt,
        permissions: record.permissions,
        repository_selection: narrowed || inst.repositoryIds !== "all" ? "selected" : "all",
        ...(narrowed
          ? { repositories: record.repositoryIds.map((id) => ctx.sim.shapes.repo(ctx.sim.state.repoById(id)!)) }
          : {}),
      },
      201,
    );
  });

  router.add("GET /installation/repositories", (ctx) => {
    const token = ctx.token();
    if (!token) throw new HttpError(401, "Requires authentication");
    const repos = token.repositoryIds.map((id) => ctx.sim.state.repoById(id)!).filter(Boolean);
    const page = ctx.page(repos, (r) => ctx.sim.shapes.repo(r));
    return { ...page, body: { total_count: repos.length, repository_selection: "selected", repositories: page.body } };
  });

  // Revoking the calling token (good hygiene after a job): GitHub answers 204.
  router.add("DELETE /installation/token", (ctx) => {
    const token = ctx.token();
    if (!token) throw new HttpError(401, "Requires authentication");
    token.revoked = true;
    return { status: 204 };
  });

  router.add("GET /users/{username}", (ctx) => {
    const u = ctx.sim.state.findUser(ctx.params.username!);
    if (!u) throw notFound();
    return ok({ ...ctx.sim.shapes.user(u.login), name: u.name ?? null, email: u.email ?? null });
  });

  router.add("GET /rate_limit", (ctx) => {
    const reset = Math.floor(ctx.sim.now() / 1000) + 3600;
    const core = { limit: 5000, used: 0, remaining: 5000, reset };
    return ok({ resources: { core, search: { ...core, limit: 30, remaining: 30 }, graphql: core }, rate: core });
  });

  // --- webhook deliveries (GET /app/hook/deliveries is cursor-paged, newest first) ---

  const deliveryJson = (d: DeliveryRecord) => ({
    id: d.id,
    guid: d.guid,
    delivered_at: d.deliveredAt,
    redelivery: d.redelivery,
    duration: d.duration,
    status: d.status,
    status_code: d.statusCode,
    event: d.event,
    action: d.action,
    installation_id: d.installationId,
    repository_id: d.repositoryId,
    throttled_at: null,
  });

  router.add("GET /app/hook/deliveries", (ctx) => {
    ctx.requireApp();
    const perPage = Math.min(Math.max(Number(ctx.query.per_page ?? 30) || 30, 1), 100);
    const newestFirst = [...ctx.sim.state.deliveries].sort((a, b) => b.id - a.id);
    // The cursor is opaque to clients; here it is the id to continue below.
    const cursor = ctx.query.cursor ? Number(Buffer.from(ctx.query.cursor, "base64url").toString()) : undefined;
    const rest = cursor === undefined ? newestFirst : newestFirst.filter((d) => d.id < cursor);
    const slice = rest.slice(0, perPage);
    const headers: Record<string, string> = {};
    if (rest.length > perPage) {
      const next = Buffer.from(String(slice[slice.length - 1]!.id)).toString("base64url");
      const q = new URLSearchParams({ ...ctx.query, per_page: String(perPage), cursor: next });
      headers.link = `<${ctx.sim.urls.api}/app/hook/deliveries?${q}>; rel="next"`;
    }
    return ok(slice.map(deliveryJson), 200, headers);
  });

  router.add("GET /app/hook/deliveries/{delivery_id}", (ctx) => {
    ctx.requireApp();
    const d = ctx.sim.state.deliveries.find((x) => x.id === ctx.int("delivery_id"));
    if (!d) throw notFound();
    let payload: unknown = d.request.payload;
    try {
      payload = JSON.parse(d.request.payload);
    } catch {
      // keep the raw text
    }
    return ok({
      ...deliveryJson(d),
      url: d.url,
      request: { headers: d.request.headers, payload },
      response: { headers: d.response.headers, payload: d.response.payload },
    });
  });

  router.add("POST /app/hook/deliveries/{delivery_id}/attempts", (ctx) => {
    ctx.requireApp();
    const d = ctx.sim.state.deliveries.find((x) => x.id === ctx.int("delivery_id"));
    if (!d) throw notFound();
    // GitHub keeps deliveries for redelivery only 3 days.
    if (ctx.sim.now() - Date.parse(d.deliveredAt) > 3 * 24 * 3600_000) {
      throw new HttpError(422, "Redelivery of deliveries older than 3 days is not supported");
    }
    // GitHub answers 202 and redelivers in the background (same GUID, a new delivery id).
    void ctx.sim.effects.redeliver(d.id);
    return ok({}, 202);
  });
}
