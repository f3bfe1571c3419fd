import { createReadStream, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import type {
  AppControllerRoute,
  AppViewRoute,
  BullBoardQueues,
  ControllerHandlerReturnType,
  IServerAdapter,
  UIConfig,
} from "@bull-board/api/typings/app";

/**
 * Bull Board on plain node:http: an IServerAdapter (the interface @bull-board/express and the
 * other adapters implement) that serves the board's API routes, its static files and its entry
 * page from inside our own HTTP server, so the web process needs no express.
 *
 * The entry page is @bull-board/ui's index.ejs. It uses only `<%= name %>` (escaped) and
 * `<%- name %>` (raw; bull-board escapes `<` and `>` in that JSON itself); the renderer here
 * supports exactly those and throws on anything else, so a UI upgrade that changes the template
 * fails loudly in the browser test instead of rendering a broken page.
 */

interface CompiledRoute {
  methods: string[];
  pattern: RegExp;
  names: string[];
  handler: AppControllerRoute["handler"];
}

const MIME: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

const MAX_BODY = 1024 * 1024;

function compile(route: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = route
    .split("/")
    .map((part) => {
      if (part.startsWith(":")) {
        names.push(part.slice(1));
        return "([^/]+)";
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { pattern: new RegExp(`^${source}/?$`), names };
}

export function renderEjsTemplate(template: string, params: Record<string, string>): string {
  return template.replace(/<%([=-])\s*([A-Za-z_][A-Za-z0-9_]*)\s*%>|<%/g, (whole, kind: string | undefined, name: string | undefined) => {
    if (!kind || !name) throw new Error("bull-board template uses EJS syntax this adapter does not support");
    const value = params[name] ?? "";
    return kind === "-" ? value : value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" })[c]!);
  });
}

export class NodeHttpBullBoardAdapter implements IServerAdapter {
  private queues: BullBoardQueues | undefined;
  private viewsPath = "";
  private statics: { route: string; dir: string } | undefined;
  private entry: AppViewRoute | undefined;
  private entryPatterns: RegExp[] = [];
  private errorHandler: ((error: Error) => ControllerHandlerReturnType) | undefined;
  private api: CompiledRoute[] = [];
  private uiConfig: UIConfig = {};
  private template: string | undefined;

  /** `basePath`: where the board is mounted, e.g. "/admin/queues". */
  constructor(readonly basePath: string) {}

  setQueues(queues: BullBoardQueues): IServerAdapter {
    this.queues = queues;
    return this;
  }
  setViewsPath(viewPath: string): IServerAdapter {
    this.viewsPath = viewPath;
    return this;
  }
  setStaticPath(staticsRoute: string, staticsPath: string): IServerAdapter {
    this.statics = { route: staticsRoute, dir: staticsPath };
    return this;
  }
  setEntryRoute(route: AppViewRoute): IServerAdapter {
    this.entry = route;
    this.entryPatterns = (Array.isArray(route.route) ? route.route : [route.route]).map((r) => compile(r).pattern);
    return this;
  }
  setErrorHandler(handler: (error: Error) => ControllerHandlerReturnType): IServerAdapter {
    this.errorHandler = handler;
    return this;
  }
  setApiRoutes(routes: AppControllerRoute[]): IServerAdapter {
    if (!this.errorHandler) throw new Error("Please call 'setErrorHandler' before using 'registerPlugin'");
    if (!this.queues) throw new Error("Please call 'setQueues' before using 'registerPlugin'");
    this.api = routes.flatMap((route) =>
      (Array.isArray(route.route) ? route.route : [route.route]).map((path) => ({
        methods: (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase()),
        ...compile(path),
        handler: route.handler,
      })),
    );
    return this;
  }
  setUIConfig(config: UIConfig = {}): IServerAdapter {
    this.uiConfig = config;
    return this;
  }

  /** Serve `path` (below basePath). False when nothing here matches it. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
    const method = (req.method ?? "GET").toUpperCase();
    if (this.statics && method === "GET" && path.startsWith(`${this.statics.route}/`)) {
      return this.serveStatic(res, path.slice(this.statics.route.length + 1));
    }
    for (const route of this.api) {
      const m = route.pattern.exec(path);
      if (!m || !route.methods.includes(method)) continue;
      const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      let body: Record<string, unknown> = {};
      try {
        body = await readJson(req);
      } catch (err) {
        this.json(res, 400, { error: (err as Error).message });
        return true;
      }
      try {
        const response = await route.handler({
          queues: this.queues!,
          uiConfig: this.uiConfig,
          query: queryObject(query),
          params,
          body,
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v])),
        });
        this.json(res, response.status ?? 200, response.body);
      } catch (err) {
        const response = this.errorHandler!(err as Error);
        this.json(res, response.status ?? 500, response.body);
      }
      return true;
    }
    if (this.entry && method === this.entry.method.toUpperCase() && this.entryPatterns.some((p) => p.test(path))) {
      const { name, params } = this.entry.handler({ basePath: this.basePath, uiConfig: this.uiConfig });
      this.template ??= readFileSync(join(this.viewsPath, name), "utf8");
      const html = renderEjsTemplate(this.template, params);
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-frame-options": "DENY", "referrer-policy": "no-referrer" });
      res.end(html);
      return true;
    }
    return false;
  }

  private serveStatic(res: ServerResponse, rel: string): boolean {
    const dir = normalize(this.statics!.dir);
    let file: string;
    try {
      file = normalize(join(dir, decodeURIComponent(rel)));
    } catch {
      return false;
    }
    if (!file.startsWith(dir + sep)) return false; // ../ out of the static directory
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) return false;
      size = st.size;
    } catch {
      return false;
    }
    res.writeHead(200, {
      "content-type": MIME[extname(file)] ?? "application/octet-stream",
      "content-length": String(size),
      // File names carry content hashes.
      "cache-control": "public, max-age=86400",
      "x-content-type-options": "nosniff",
    });
    createReadStream(file).pipe(res);
    return true;
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body ?? null);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
    res.end(text);
  }
}

/** Query string → object; a repeated key becomes an array (as express's parser gives). */
function queryObject(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(query.keys())) {
    const all = query.getAll(key);
    out[key] = all.length > 1 ? all : all[0];
  }
  return out;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (!text) return resolve({});
      try {
        const parsed = JSON.parse(text) as unknown;
        resolve(parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {});
      } catch {
        reject(new Error("body is not JSON"));
      }
    });
  });
}
