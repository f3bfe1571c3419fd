import { randomBytes, timingSafeEqual, createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readTrajectory, type TrajectoryRecord } from "../agent/trajectory.js";
import { recordsPayload, renderRunPage } from "../ops/run-page.js";
import { newNonce, pageHeaders, sendText } from "../ops/security-headers.js";
import type { StoredRun } from "../runs/run-store.js";
import { UsageError } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import type { CliContext } from "./fix-command.js";

export const RUNS_USAGE = `Usage:
  iquest-bot runs view FILE [--port N] [--diff FILE]

Serves the run viewer (the page a job card links to) on 127.0.0.1 for a trajectory written by
\`iquest-bot fix --trajectory FILE\`, and prints its URL. The page follows the file while a run
is still writing it. The URL carries a random key: other users of this machine cannot open it.
Ctrl-C stops the server.

Options:
  --port N       the port (default: any free one)
  --diff FILE    a diff to show with the run (e.g. \`iquest-bot fix --json | jq -r .diff\`)

Exit codes:
  0    stopped (Ctrl-C)
  2    bad arguments: no such file, not a trajectory, the port is taken
`;

interface ViewArgs {
  file: string;
  port: number;
  diff?: string;
}

function parseViewArgs(argv: readonly string[], cwd: string): ViewArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: { port: { type: "string" }; diff: { type: "string" } }; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: { port: { type: "string" }, diff: { type: "string" } } });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [file, ...extra] = parsed.positionals;
  if (!file) throw new UsageError("runs view needs the trajectory FILE");
  if (extra.length) throw new UsageError(`one FILE only (got also ${extra.join(" ")})`);
  const port = parsed.values.port === undefined ? 0 : Number(parsed.values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError("--port takes a port number (0-65535)");
  const path = resolve(cwd, file);
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${file}: no such file`);
  const diff = parsed.values.diff === undefined ? undefined : resolve(cwd, parsed.values.diff);
  if (diff !== undefined && !existsSync(diff)) throw new UsageError(`--diff ${parsed.values.diff}: no such file`);
  return { file: path, port, ...(diff ? { diff } : {}) };
}

/** The trajectory as the viewer's StoredRun; a UsageError when the file is not a trajectory. */
function loadRun(args: ViewArgs): StoredRun {
  let records: TrajectoryRecord[];
  let partialLastLine: boolean;
  try {
    ({ records, partialLastLine } = readTrajectory(args.file));
  } catch (err) {
    throw new UsageError(`${basename(args.file)} is not a trajectory: ${(err as Error).message}`);
  }
  if (records.length > 0 && records[0]!.type !== "run-start") {
    throw new UsageError(`${basename(args.file)} is not a trajectory: its first record is ${JSON.stringify(records[0]!.type ?? null)}, not "run-start"`);
  }
  const diff = args.diff ? readFileSync(args.diff, "utf8") : undefined;
  return { meta: { jobId: "local", kind: "CLI run", repo: basename(args.file), private: true }, records, partialLastLine, diff, hasTrajectory: true };
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** `iquest-bot runs view FILE`: serve until `ctx.signal` aborts (Ctrl-C); the URL goes to stdout. */
export async function runRunsCommand(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const err = (text: string) => ctx.stderr.write(ctx.redact(text));
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h" || sub === "help") {
    ctx.stdout.write(RUNS_USAGE);
    return EXIT_CODES.submitted;
  }
  let args: ViewArgs;
  try {
    if (sub !== "view") throw new UsageError(sub === undefined ? "runs needs a subcommand: view" : `unknown runs subcommand "${sub}" (there is: view)`);
    args = parseViewArgs(rest, ctx.cwd);
    loadRun(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`iquest-bot runs: ${e.message}\n\n${RUNS_USAGE}`);
    return EXIT_CODES.usage;
  }

  const key = randomBytes(16).toString("hex");
  const keyOk = (url: URL) => {
    const given = url.searchParams.get("k") ?? "";
    return timingSafeEqual(digest(given), digest(key));
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET") return sendText(res, 405, "method not allowed");
    if (!keyOk(url)) return sendText(res, 404, "not found");
    let run: StoredRun;
    try {
      run = loadRun(args); // read afresh: the run may still be writing the file
    } catch (e) {
      return sendText(res, 500, (e as Error).message);
    }
    if (url.pathname === "/") {
      const nonce = newNonce();
      res.writeHead(200, pageHeaders(nonce));
      return res.end(renderRunPage(basename(args.file), run, { redact: ctx.redact, nonce, recordsUrl: `/records?k=${key}` }));
    }
    if (url.pathname === "/records") {
      const from = Math.max(0, Number(url.searchParams.get("from")) || 0);
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" });
      return res.end(JSON.stringify(recordsPayload(run, from, url.searchParams.get("run") ?? "", ctx.redact)));
    }
    sendText(res, 404, "not found");
  });
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once("error", reject);
      // Loopback only: the page shows a run's commands and output.
      server.listen(args.port, "127.0.0.1", () => resolveListen());
    });
  } catch (e) {
    err(`iquest-bot runs: cannot listen on 127.0.0.1:${args.port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return EXIT_CODES.usage;
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/?k=${key}`;
  ctx.stdout.write(`${url}\n`);
  err(`iquest-bot runs: serving ${args.file} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolveStop) => {
    if (ctx.signal?.aborted) return resolveStop();
    ctx.signal?.addEventListener("abort", () => resolveStop(), { once: true });
  });
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  return EXIT_CODES.submitted;
}
