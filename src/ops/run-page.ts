import type { TrajectoryRecord } from "../agent/trajectory.js";
import type { Redact } from "../shared/redact.js";
import type { StoredRun } from "../runs/run-store.js";

/**
 * The run viewer's HTML, as pure functions of a stored run: the agent's steps in order, each with
 * its reasoning collapsed, the tool call, the observation (long output folded), timings and
 * tokens; the budgets used; the diff at the end. Native <details> elements do the folding, so the
 * page works without script; a small script only fetches new steps while the run goes on.
 *
 * Every string from the run passes the redactor and then HTML escaping, here and nowhere else.
 */

/** Observations longer than this are folded behind a summary. */
export const FOLD_LINES = 25;
export const FOLD_CHARS = 3000;

export interface RunPageOptions {
  redact: Redact;
  /** CSP nonce for the inline script and style. */
  nonce: string;
  /** Where the live script fetches new records (`…/records?…`); no live updates without it. */
  recordsUrl?: string;
  now?: number;
}

type Rec = TrajectoryRecord & Record<string, any>;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Redact, then escape: the only way run text reaches the page. */
function safe(redact: Redact, value: unknown): string {
  return escapeHtml(redact(typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value, null, 2)));
}

export function formatMs(ms: unknown): string {
  const n = typeof ms === "number" && Number.isFinite(ms) ? ms : 0;
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(1)} s`;
  const min = Math.floor(n / 60_000);
  return `${min} min ${Math.round((n % 60_000) / 1000)} s`;
}

const num = (n: unknown) => (typeof n === "number" && Number.isFinite(n) ? n.toLocaleString("en-US") : "–");

export interface RunStatus {
  state: "waiting" | "running" | "finished";
  runId?: string;
  outcome?: Record<string, unknown>;
  steps: number;
  tokens: number;
  elapsedMs: number;
  budgets?: { maxSteps?: number; maxTotalTokens?: number; maxWallClockMs?: number };
  model?: string;
}

export function runStatus(records: readonly TrajectoryRecord[], now = Date.now()): RunStatus {
  const start = records.find((r) => r.type === "run-start") as Rec | undefined;
  const end = [...records].reverse().find((r) => r.type === "end") as Rec | undefined;
  let steps = 0;
  let tokens = 0;
  for (const r of records as Rec[]) {
    if (r.type === "step") steps = Math.max(steps, Number(r.step) || 0);
    if ((r.type === "step" || r.type === "condensation") && r.totalUsage) tokens = Number(r.totalUsage.totalTokens) || tokens;
  }
  if (end) tokens = Number(end.usage?.totalTokens) || tokens;
  const startedAt = start ? Date.parse(String(start.startedAt)) : NaN;
  const elapsedMs = end ? Number(end.durationMs) || 0 : Number.isFinite(startedAt) ? Math.max(0, now - startedAt) : 0;
  return {
    state: !start ? "waiting" : end ? "finished" : "running",
    runId: start ? String(start.runId) : undefined,
    outcome: end?.outcome as Record<string, unknown> | undefined,
    steps,
    tokens,
    elapsedMs,
    budgets: start?.budgets as RunStatus["budgets"],
    model: start ? String(start.model ?? "") : undefined,
  };
}

function outcomeText(outcome: Record<string, unknown> | undefined): string {
  if (!outcome) return "running";
  switch (outcome.kind) {
    case "submitted":
      return "submitted";
    case "budget-exhausted":
      return `stopped: ${String(outcome.budget)} budget spent`;
    case "cancelled":
      return `cancelled (${String(outcome.reason)})`;
    case "error":
      return "error";
    default:
      return String(outcome.kind ?? "finished");
  }
}

function meter(label: string, used: number, max: number | undefined, format: (n: number) => string): string {
  // <meter>, not a styled bar: the page's CSP allows no inline style attributes.
  const bar = max ? `<meter min="0" max="${max}" value="${Math.min(used, max)}"></meter>` : "";
  return `<div class="budget"><span class="label">${label}</span> <span class="value">${escapeHtml(format(used))}${
    max ? ` of ${escapeHtml(format(max))}` : ""
  }</span>${bar}</div>`;
}

/** The header block that changes as the run goes: state, budgets used. */
export function renderStatus(status: RunStatus, redact: Redact): string {
  const stateClass = status.state === "finished" ? (status.outcome?.kind === "submitted" ? "ok" : "bad") : status.state;
  const stateText = status.state === "waiting" ? "waiting for the agent to start" : outcomeText(status.outcome);
  const error = status.outcome?.kind === "error" && status.outcome.message ? `<p class="error">${safe(redact, status.outcome.message)}</p>` : "";
  return `<div id="status" data-state="${status.state}">
<p class="state ${stateClass}">${escapeHtml(stateText)}</p>${error}
<div class="budgets">${meter("Steps", status.steps, status.budgets?.maxSteps, (n) => num(n))}${meter(
    "Tokens",
    status.tokens,
    status.budgets?.maxTotalTokens,
    (n) => num(n),
  )}${meter("Time", status.elapsedMs, status.budgets?.maxWallClockMs, formatMs)}</div>
</div>`;
}

function fold(cls: string, title: string, body: string, open = false): string {
  return `<details class="${cls}"${open ? " open" : ""}><summary>${title}</summary>${body}</details>`;
}

function renderObservation(text: string, redact: Redact): string {
  const clean = redact(text);
  const lines = clean.split("\n");
  const pre = `<pre class="output">${escapeHtml(clean)}</pre>`;
  if (lines.length <= FOLD_LINES && clean.length <= FOLD_CHARS) return `<div class="observation">${pre}</div>`;
  const preview = escapeHtml(lines.slice(0, 3).join("\n"));
  return fold(
    "observation folded",
    `Output: ${num(lines.length)} lines, ${num(clean.length)} characters (folded)<pre class="preview">${preview}</pre>`,
    pre,
  );
}

function renderCall(rec: Rec, redact: Redact): string {
  const action = rec.action ?? {};
  if (action.kind !== "call") {
    const what = action.kind === "invalid" ? `invalid tool call: ${String(action.problem ?? "")}` : action.kind === "truncated" ? "answer cut off while thinking" : "no tool call";
    return `<div class="call problem">${safe(redact, what)}</div>`;
  }
  const args = (action.args ?? {}) as Record<string, unknown>;
  if (action.tool === "execute_bash" && typeof args.command === "string") {
    return `<div class="call"><span class="tool">execute_bash</span><pre class="command">$ ${safe(redact, args.command)}</pre></div>`;
  }
  const rows = Object.entries(args).map(([k, v]) => {
    const text = typeof v === "string" ? v : JSON.stringify(v);
    const value = text.includes("\n") || text.length > 120 ? `<pre>${safe(redact, text)}</pre>` : `<code>${safe(redact, text)}</code>`;
    return `<div class="arg"><span class="key">${escapeHtml(k)}</span> ${value}</div>`;
  });
  return `<div class="call"><span class="tool">${safe(redact, action.tool)}</span>${rows.join("")}</div>`;
}

function renderStep(rec: Rec, redact: Redact): string {
  const t = rec.timings ?? {};
  const usage = rec.usage ?? {};
  const reasoning = typeof rec.response?.reasoning === "string" ? rec.response.reasoning : "";
  const content = typeof rec.response?.content === "string" ? rec.response.content : "";
  const tool = rec.action?.kind === "call" ? String(rec.action.tool) : String(rec.action?.kind ?? "?");
  const attempts = Number(rec.attempts) > 1 ? ` · ${rec.attempts} attempts` : "";
  return `<section class="step${rec.isError ? " error" : ""}" id="step-${Number(rec.step)}" data-step="${Number(rec.step)}">
<h3><span class="n">Step ${Number(rec.step)}</span> <span class="tool-name">${safe(redact, tool)}</span>
<span class="timing">${formatMs(t.stepMs)} (model ${formatMs(t.modelMs)}, tool ${formatMs(t.toolMs)})${attempts} · ${num(usage.promptTokens)} + ${num(usage.completionTokens)} tokens</span></h3>
${reasoning ? fold("reasoning", `Reasoning (${num(reasoning.length)} characters)`, `<pre>${safe(redact, reasoning)}</pre>`) : ""}
${content.trim() ? `<div class="content"><pre>${safe(redact, content)}</pre></div>` : ""}
${renderCall(rec, redact)}
${renderObservation(typeof rec.observation === "string" ? rec.observation : "", redact)}
</section>`;
}

function renderCondensation(rec: Rec, redact: Redact): string {
  return `<section class="condensation" data-before-step="${Number(rec.beforeStep)}">
<h3>History condensed before step ${Number(rec.beforeStep)} (${safe(redact, rec.reason)}): ${num(rec.removedMessages)} messages summarised${rec.dropped ? ", summary failed: dropped" : ""}</h3>
${typeof rec.summary === "string" && rec.summary ? fold("summary", "Summary", `<pre>${safe(redact, rec.summary)}</pre>`) : ""}
</section>`;
}

/** The records from index `from` on, as HTML (steps and condensations; the rest show in the status). */
export function renderRecords(records: readonly TrajectoryRecord[], from: number, redact: Redact): string {
  return records
    .slice(from)
    .map((r) => (r.type === "step" ? renderStep(r as Rec, redact) : r.type === "condensation" ? renderCondensation(r as Rec, redact) : ""))
    .join("\n");
}

export function renderDiff(diff: string | undefined, redact: Redact, finished: boolean): string {
  if (diff === undefined) {
    const why = finished ? "No diff was recorded for this run." : "The diff appears here when the run ends.";
    return `<section id="diff" class="diff empty"><h2>Diff</h2><p>${why}</p></section>`;
  }
  if (diff.trim() === "") return `<section id="diff" class="diff empty"><h2>Diff</h2><p>The run changed nothing.</p></section>`;
  const lines = redact(diff)
    .split("\n")
    .map((line) => {
      const cls = line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff --git") ? "file" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "ctx";
      return `<span class="${cls}">${escapeHtml(line)}</span>`;
    });
  // One block element per line, so no newline between them (it would double the spacing).
  return `<section id="diff" class="diff"><h2>Diff</h2><pre>${lines.join("")}</pre></section>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d232b;color:#fff;padding:14px 24px}header h1{font-size:18px;margin:0}header .meta{color:#b9c2cf;font-size:13px}
header a{color:#9cc9ff}main{max-width:1100px;margin:0 auto;padding:16px 24px}
#status{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:10px 14px;margin-bottom:16px}
.state{font-weight:600;margin:0 0 8px}.state.ok{color:#1a7f37}.state.bad{color:#b42318}.state.running{color:#9a6700}.state.waiting{color:#57606a}
.budgets{display:flex;gap:24px;flex-wrap:wrap}.budget{min-width:220px}.budget .label{font-weight:600}.budget meter{display:block;width:100%;margin-top:4px}.error{color:#b42318}
.step,.condensation{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:8px 14px;margin:10px 0}.step.error{border-left:4px solid #d4a72c}
.condensation{background:#fffbe6}h3{font-size:14px;margin:4px 0 8px;font-weight:500}h3 .n{font-weight:700}h3 .tool-name{font-family:ui-monospace,monospace;background:#eef1f5;padding:1px 6px;border-radius:4px}
h3 .timing{color:#57606a;font-size:12px;margin-left:8px}pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word;margin:4px 0;background:#f6f8fa;padding:6px 8px;border-radius:4px}
details>summary{cursor:pointer;color:#3d5a80;font-weight:500}details.reasoning{color:#57606a}details .preview{color:#57606a;background:none;padding:0 0 0 12px}
details[open] .preview{display:none}.call .tool{font-family:ui-monospace,monospace;font-weight:700}.call .key{color:#57606a;font-family:ui-monospace,monospace}
.call.problem{color:#9a6700}.diff pre span{display:block;min-height:1.4em}.diff pre .add{color:#1a7f37;background:#e6ffec}.diff pre .del{color:#b42318;background:#ffebe9}
.diff pre .hunk{color:#8250df}.diff pre .file{font-weight:700}.live{color:#57606a;font-size:12px}
`;

const SCRIPT = `
(function(){
  var main=document.querySelector("main");var url=main.getAttribute("data-records-url");if(!url)return;
  var count=Number(main.getAttribute("data-count"));var runId=main.getAttribute("data-run-id")||"";
  var live=document.getElementById("live");var after=0;
  function poll(){
    fetch(url+"&from="+count+"&run="+encodeURIComponent(runId),{credentials:"same-origin",cache:"no-store"})
      .then(function(r){if(!r.ok)throw new Error("HTTP "+r.status);return r.json();})
      .then(function(d){
        if(d.reset){location.reload();return;}
        if(d.html){document.getElementById("steps").insertAdjacentHTML("beforeend",d.html);}
        count=d.count;runId=d.runId||runId;
        document.getElementById("status").outerHTML=d.status;
        if(d.finished){document.getElementById("diff").outerHTML=d.diff;if(live)live.textContent="Run finished.";
          // The job writes the diff just after the agent ends: look a few more times.
          if(d.diffReady||++after>5)return;}
        setTimeout(poll,2000);
      })
      .catch(function(e){if(live)live.textContent="Live updates stopped ("+e.message+"); refresh to update.";});
  }
  setTimeout(poll,2000);
})();
`;

export function renderRunPage(jobId: string, run: StoredRun, options: RunPageOptions): string {
  const { redact } = options;
  const status = runStatus(run.records, options.now);
  const meta = run.meta;
  const title = meta?.title ? safe(redact, meta.title) : `Run ${escapeHtml(jobId)}`;
  const sub = [
    meta ? `${safe(redact, meta.kind)} · ${safe(redact, meta.repo)}${meta.private ? " (private)" : ""}` : "",
    status.model ? `model ${safe(redact, status.model)}` : "",
    `job ${escapeHtml(jobId)}`,
  ]
    .filter(Boolean)
    .join(" · ");
  const back = meta?.htmlUrl && /^https?:\/\//.test(meta.htmlUrl) ? ` · <a href="${safe(redact, meta.htmlUrl)}" rel="noreferrer">on GitHub</a>` : "";
  const live = status.state !== "finished" && options.recordsUrl;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><link rel="icon" href="data:,"><title>${title} · iquest-bot</title>
<style nonce="${options.nonce}">${STYLE}</style></head>
<body><header><h1>${title}</h1><div class="meta">${sub}${back}</div></header>
<main data-count="${run.records.length}" data-run-id="${escapeHtml(status.runId ?? "")}"${live ? ` data-records-url="${escapeHtml(options.recordsUrl!)}"` : ""}>
${renderStatus(status, redact)}
${live ? `<p class="live" id="live">Live: new steps appear as the agent takes them.</p><noscript><p class="live">Refresh the page to see new steps.</p></noscript>` : ""}
<div id="steps">${renderRecords(run.records, 0, redact)}</div>
${renderDiff(status.state === "finished" ? run.diff : undefined, redact, status.state === "finished")}
</main>
${live ? `<script nonce="${options.nonce}">${SCRIPT}</script>` : ""}
</body></html>`;
}

/**
 * What the page's live script gets from `…/records?from=N&run=<runId>`: the records from N on,
 * the status block and the diff once finished; `reset` when the run was rewritten (a retry: a
 * new runId) or the page is ahead of the file.
 */
export function recordsPayload(run: StoredRun, from: number, runId: string, redact: Redact, now?: number): Record<string, unknown> {
  const status = runStatus(run.records, now);
  const reset = (runId !== "" && status.runId !== undefined && runId !== status.runId) || from > run.records.length;
  if (reset) return { reset: true };
  const finished = status.state === "finished";
  return {
    reset: false,
    runId: status.runId ?? "",
    count: run.records.length,
    html: renderRecords(run.records, from, redact),
    status: renderStatus(status, redact),
    finished,
    diffReady: run.diff !== undefined,
    diff: renderDiff(finished ? run.diff : undefined, redact, finished),
  };
}
