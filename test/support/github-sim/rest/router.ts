import type { IncomingHttpHeaders } from "node:http";
import { authorizeRepo, type AppIdentity, type Need } from "../auth.js";
import { HttpError, notFound } from "../http-error.js";
import type { Json, Shapes, Urls } from "../shapes.js";
import type { AuthInfo, SimRepo, SimState, TokenRecord } from "../state.js";

/**
 * A small router for the REST surface. Routes are written as octokit writes them
 * ("GET /repos/{owner}/{repo}/pulls/{pull_number}"), so a recorded request's `route` reads like
 * the octokit method that sent it. `{name+}` takes the rest of the path (file paths, refs).
 */

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What happens in the simulated GitHub when a handler changes something. */
export interface SimEffects {
  /** Refs moved (API, git push or seed): PR heads follow, PRs of deleted branches close. */
  refsUpdated(
    repo: SimRepo,
    updates: Array<{ ref: string; before: string; after: string }>,
    via: "git" | "api" | "sim",
    token?: string,
  ): Promise<void>;
  /**
   * Something happened that GitHub would send a webhook for. `build` gives the event's own
   * fields (action, issue, comment, ...); repository, sender and installation are added. Sent
   * only when auto-delivery is on, so `build` runs only then.
   */
  emit(event: string, repo: SimRepo, sender: string, build: () => Promise<Json> | Json): void;
  /** Redeliver a logged delivery (the deliveries API). */
  redeliver(deliveryId: number): Promise<void>;
  /** A push event's own fields (ref, before, after, commits, ...), read from the repo. */
  pushFields(repo: SimRepo, ref: string, before: string, after: string, sender: string): Promise<Json>;
}

export interface SimServices {
  state: SimState;
  shapes: Shapes;
  app: AppIdentity;
  urls: Urls;
  now(): number;
  tokenTtlMs: number;
  longTokens: boolean;
  effects: SimEffects;
}

export class RestContext {
  constructor(
    readonly sim: SimServices,
    readonly method: string,
    readonly path: string,
    readonly params: Record<string, string>,
    readonly query: Record<string, string>,
    readonly body: Record<string, unknown>,
    readonly auth: AuthInfo,
    readonly headers: IncomingHttpHeaders = {},
  ) {}

  /** The media type format asked for in Accept ("diff", "patch", "raw", ...), if any. */
  get mediaFormat(): string | undefined {
    const accept = String(this.headers.accept ?? "");
    return /application\/vnd\.github(?:\.v3)?\.(diff|patch|raw|html|text|full)/.exec(accept)?.[1];
  }

  /** The repo named by {owner}/{repo}, if the caller may use it with one of `needs`. */
  repo(...needs: Need[]): SimRepo {
    const repo = this.sim.state.findRepo(this.params.owner!, this.params.repo!);
    if (!repo) {
      if (this.auth.kind === "invalid") throw new HttpError(401, "Bad credentials");
      throw notFound();
    }
    authorizeRepo(this.sim.state, this.auth, repo, needs.length ? needs : [["metadata", "read"]]);
    return repo;
  }

  /** App (JWT) endpoints: only a valid JWT gets in. */
  requireApp(): void {
    if (this.auth.kind === "app") return;
    if (this.auth.kind === "invalid") throw new HttpError(401, this.auth.reason);
    throw new HttpError(401, "A JSON web token could not be decoded");
  }

  token(): TokenRecord | undefined {
    const auth = this.auth;
    return auth.kind === "installation" ? this.sim.state.tokens.find((t) => t.token === auth.token) : undefined;
  }

  /** The login that acts: the app's bot for an installation token. */
  actor(): string {
    if (this.auth.kind === "installation") return this.sim.app.botLogin;
    throw new HttpError(401, "Requires authentication");
  }

  int(name: string): number {
    const v = Number(this.params[name]);
    if (!Number.isInteger(v)) throw notFound();
    return v;
  }

  string(name: string, options: { required?: boolean; max?: number; resource?: string } = {}): string | undefined {
    const v = this.body[name];
    if (v === undefined || v === null) {
      if (options.required) throw new HttpError(422, "Invalid request.\n\n\"" + name + "\" wasn't supplied.");
      return undefined;
    }
    if (typeof v !== "string") throw new HttpError(422, `Invalid request.\n\nFor '${name}', ${JSON.stringify(v)} is not a string.`);
    if (options.max !== undefined && v.length > options.max) {
      throw new HttpError(422, "Validation Failed", {
        errors: [
          { resource: options.resource ?? "Issue", code: "custom", field: name, message: `${name} is too long (maximum is ${options.max} characters)` },
        ],
      });
    }
    return v;
  }

  /** Page an array the way GitHub does (`per_page` ≤ 100, `page`), with a Link header. */
  page<T>(items: T[], map: (item: T) => unknown): Reply {
    const perPage = Math.min(Math.max(Number(this.query.per_page ?? 30) || 30, 1), 100);
    const page = Math.max(Number(this.query.page ?? 1) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const link = (p: number, rel: string) => {
      const q = new URLSearchParams({ ...this.query, per_page: String(perPage), page: String(p) });
      return `<${this.sim.urls.api}${this.path}?${q}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, "prev"), link(1, "first"));
    if (page < last) links.push(link(page + 1, "next"), link(last, "last"));
    return { status: 200, body: slice.map(map), headers: links.length ? { link: links.join(", ") } : {} };
  }
}

export type Handler = (ctx: RestContext) => Promise<Reply> | Reply;

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

export class Router {
  #routes: Route[] = [];

  add(route: string, handler: Handler): void {
    const [method, template] = route.split(" ") as [string, string];
    const names: string[] = [];
    const pattern = template
      .split("/")
      .map((seg) => {
        const m = /^\{(\w+)(\+)?\}$/.exec(seg);
        if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(m[1]!);
        // Numeric params only match digits, so "/issues/comments" never reads as issue "comments".
        if (/(_number|_id)$/.test(m[1]!)) return "(\\d+)";
        return m[2] ? "(.*)" : "([^/]+)";
      })
      .join("/");
    this.#routes.push({ method, template, regex: new RegExp(`^${pattern}/?$`), names, handler });
  }

  /** The route for a call: a handler, a 405-ish miss on method, or nothing. */
  match(method: string, rawPath: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.#routes) {
      if (route.method !== method) continue;
      const m = route.regex.exec(rawPath);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => {
        const raw = m[i + 1] ?? "";
        params[n] = raw.split("/").map(decodeURIComponent).join("/");
      });
      return { route, params };
    }
    return undefined;
  }

  /** Route templates for the README and for tests that want to know what exists. */
  get routes(): string[] {
    return this.#routes.map((r) => `${r.method} ${r.template}`);
  }
}

export const ok = (body: unknown, status = 200, headers?: Record<string, string>): Reply => ({ status, body, headers });
export const noContent = (): Reply => ({ status: 204 });
