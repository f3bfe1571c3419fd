// The import rules of docs/ARCHITECTURE.md, checked on every `npm test`:
// - imports flow one way: webhooks → queue; jobs → agent, workspace, github; main composes all;
// - rules/ (pure decisions) and shared/ are leaves everyone may use;
// - the agent knows nothing of GitHub, BullMQ or Probot;
// - only src/main reads process.env;
// - no import cycles between modules.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = "src";
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith(".ts")) files.push(p);
  }
})(ROOT);

// area → areas it must not import from
const FORBIDDEN = {
  // Pure decision rules (commands, who may trigger) shared by the web side and the jobs.
  rules: ["config", "webhooks", "queue", "jobs", "agent", "workspace", "github", "http", "main", "cli", "capacity", "runs", "ops"],
  shared: ["config", "webhooks", "queue", "jobs", "agent", "workspace", "github", "http", "main", "cli", "web", "capacity", "runs", "ops"],
  config: ["webhooks", "queue", "jobs", "agent", "workspace", "github", "http", "main", "cli", "capacity", "runs", "ops"],
  agent: ["webhooks", "queue", "jobs", "workspace", "github", "http", "main", "web", "capacity", "runs", "ops"],
  // Operations: the shared model gate, run records and links, the pages and the worker's health port.
  capacity: ["webhooks", "queue", "jobs", "workspace", "github", "http", "main", "cli", "runs", "ops"],
  runs: ["webhooks", "queue", "jobs", "workspace", "github", "http", "main", "cli", "capacity", "ops"],
  ops: ["webhooks", "jobs", "workspace", "github", "main", "cli", "capacity"],
  workspace: ["webhooks", "queue", "jobs", "http", "main", "web"],
  github: ["webhooks", "queue", "jobs", "agent", "workspace", "http", "main"],
  queue: ["webhooks", "jobs", "agent", "workspace", "github", "http", "main"],
  webhooks: ["jobs", "agent", "workspace", "main", "http"],
  jobs: ["webhooks", "main", "http", "ops"],
  http: ["main"],
  reconciler: ["webhooks", "queue", "jobs", "agent", "workspace", "http", "main"],
  // Ecosystem logic (manifests, registries, versions): knows nothing of GitHub, jobs or the sandbox.
  deps: ["config", "webhooks", "queue", "jobs", "agent", "workspace", "github", "http", "main", "cli"],
};
const FORBIDDEN_PACKAGES = { agent: ["probot", "bullmq", "@octokit/", "ioredis"], deps: ["probot", "bullmq", "@octokit/", "ioredis"] };

const problems = [];
const graph = new Map();
const areaOf = (f) => relative(ROOT, f).split("/")[0];

for (const file of files) {
  const text = readFileSync(file, "utf8");
  const area = areaOf(file);
  const deps = [];
  for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+["']([^"']+)["']/gm)) {
    const spec = m[1];
    if (spec.startsWith(".")) {
      const target = normalize(join(dirname(file), spec.replace(/\.js$/, ".ts")));
      deps.push(target);
      const targetArea = areaOf(target);
      if ((FORBIDDEN[area] ?? []).includes(targetArea)) problems.push(`${file}: ${area}/ must not import ${targetArea}/ (${spec})`);
    } else {
      for (const pkg of FORBIDDEN_PACKAGES[area] ?? []) {
        if (spec === pkg || spec.startsWith(pkg)) problems.push(`${file}: ${area}/ must not import ${spec}`);
      }
    }
  }
  graph.set(file, deps);
  if (area !== "main" && /process\.env\b/.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ""))) {
    problems.push(`${file}: only src/main reads process.env; take the value as a parameter`);
  }
}

// Cycle detection (type-only imports count too: they still couple the modules).
const state = new Map();
const stack = [];
function visit(f) {
  state.set(f, 1);
  stack.push(f);
  for (const d of graph.get(f) ?? []) {
    if (!graph.has(d)) continue;
    if (state.get(d) === 1) problems.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].join(" → ")}`);
    else if (!state.get(d)) visit(d);
  }
  stack.pop();
  state.set(f, 2);
}
for (const f of graph.keys()) if (!state.get(f)) visit(f);

if (problems.length) {
  console.error(`check-boundaries: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  process.exit(1);
}
console.log(`check-boundaries: ${files.length} files, imports follow the architecture`);
