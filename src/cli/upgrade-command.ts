import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { parseRepoConfig, describeProblems } from "../config/repo-config.js";
import { createDirFiles } from "../deps/dir-files.js";
import { DAY_MS, findUpdates } from "../deps/find-updates.js";
import { parseIgnoreRules } from "../deps/ignore.js";
import { normalizeRegistry } from "../deps/npm/npmrc.js";
import type { ProposedUpdate } from "../deps/types.js";
import { MODEL_FLAG_OPTIONS, UsageError, modelFlags, parseFlags } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import type { CliContext } from "./fix-command.js";
import type { ModelClientInput } from "../agent/model/options.js";
import { modelOptionsFrom } from "./model-config.js";
import { createProgress } from "./progress.js";
import { applyUpgrades } from "./upgrade-apply.js";
import { cliEcosystems } from "./cli-ecosystems.js";

/**
 * `iquest-bot upgrade --repo PATH --dry-run [--json]`: what the upgrade job would propose for a
 * local checkout, one group per branch it would make, with no GitHub, no sandbox and no model.
 * The repository's `.github/iquest.yml` (upgrade section) and `.npmrc` are honoured. Applying is
 * the worker's job (it needs the sandbox, the tests and a place to push), so `--dry-run` is
 * required: it says what a run does not do.
 */
export const UPGRADE_USAGE = `Usage:
  iquest-bot upgrade --repo PATH --dry-run [--json] [--registry URL]
  iquest-bot upgrade --repo PATH [--json] [--registry URL] [--model-url URLS] [--profile NAME]

--dry-run prints the dependency updates the upgrade job would propose for a local checkout: one
group per branch it would make (iquest/deps-<group>), using the repository's .github/iquest.yml
and .npmrc. Nothing is changed, and no model is used.

Without --dry-run, each group is applied as the upgrade job applies it, on copies of HEAD in the
bubblewrap sandbox: the manifests and the lock file are updated (network through the egress
proxy, to package registries only), the tests run and are compared with HEAD's, and when the
upgrade breaks tests the agent repairs the code (no network). Each group ends on a new local
branch iquest/deps-<group>: the bump commit, then the repair as a commit of its own. Nothing is
pushed; your checkout and its uncommitted changes are not touched; an existing branch is never
overwritten (its group is skipped).

Options:
  --repo PATH        the git checkout
  --dry-run          propose only
  --json             one JSON object on stdout
  --registry URL     the npm registry for packages .npmrc does not place elsewhere
                     (default: $NPM_REGISTRY or https://registry.npmjs.org/)
  --model-url, --model, --profile, --protocol   the repair's model, as for fix (default
                     profile: the upgrade job's)

Each update has: name, depType, manifest, currentValue, newValue, currentVersion (locked),
newVersion, updateType (major, minor, patch or lockfile), group.

Environment: MODEL_BASE_URL, MODEL_NAME, MODEL_API_KEY, MODEL_TOOL_PROTOCOL, MODEL_PROFILES_FILE and
the other MODEL_* settings (as for fix), EGRESS_ALLOW and NPM_REGISTRY (what setup may reach).

Exit codes: 0 done (every group passes or was repaired; or nothing to do); 1 a group fails its
tests or could not be applied, or part of the project or a registry could not be read; 2 bad
arguments; 130 interrupted.
`;

const argsSchema = z.object({
  repo: z.string({ error: "--repo PATH is required" }).min(1, "--repo PATH is required"),
  "dry-run": z.boolean().default(false),
  json: z.boolean().default(false),
  registry: z.string().optional(),
});

export async function runUpgradeCommand(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const out = (text: string) => ctx.stdout.write(ctx.redact(text));
  const err = (text: string) => ctx.stderr.write(ctx.redact(text));
  if (argv.includes("--help") || argv.includes("-h")) {
    out(UPGRADE_USAGE);
    return EXIT_CODES.submitted;
  }
  let repo: string;
  let json: boolean;
  let registry: string;
  let dryRun: boolean;
  let model: ModelClientInput | undefined;
  try {
    const values = parseFlags(argv, { repo: { type: "string" }, "dry-run": { type: "boolean" }, json: { type: "boolean" }, registry: { type: "string" }, ...MODEL_FLAG_OPTIONS });
    const parsed = argsSchema.safeParse({ repo: values.repo, "dry-run": values["dry-run"], json: values.json, registry: values.registry });
    if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join("; "));
    repo = resolve(ctx.cwd, parsed.data.repo);
    json = parsed.data.json;
    const chosen = parsed.data.registry ?? ctx.npmRegistry ?? "https://registry.npmjs.org/";
    const normalized = normalizeRegistry(chosen);
    if (!normalized) throw new UsageError(`--registry ${chosen}: not an http(s) URL`);
    registry = normalized;
    if (!(await stat(repo).catch(() => undefined))?.isDirectory()) throw new UsageError(`--repo ${parsed.data.repo}: not a directory`);
    dryRun = parsed.data["dry-run"];
    if (!dryRun) model = modelOptionsFrom(ctx.modelEnv, modelFlags(values), "upgrade").input;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`iquest-bot upgrade: ${e.message}\n\n${UPGRADE_USAGE}`);
    return EXIT_CODES.usage;
  }

  if (!dryRun) return applyAndReport(ctx, { repo, registry, model: model!, json });

  const configText = await readFile(join(repo, ".github", "iquest.yml"), "utf8").catch(() => undefined);
  const loaded = parseRepoConfig(configText);
  if (loaded.problems.length) err(`iquest-bot upgrade: .github/iquest.yml has problems (defaults used for them):\n${describeProblems(loaded.problems)}\n`);
  const cfg = loaded.config.upgrade;
  // On the user's own machine the repository's registries are theirs to contact.
  const { ecosystems, requests } = cliEcosystems(ctx, registry, cfg.ecosystems);
  const result = await findUpdates({
    files: createDirFiles(repo),
    ecosystems,
    policy: { now: Date.now(), minimumAgeMs: cfg.minimumAgeDays * DAY_MS, ignore: parseIgnoreRules(cfg.ignore) },
    groups: cfg.groups,
  });

  const fields = (u: ProposedUpdate) => ({
    name: u.name,
    depType: u.depType,
    manifest: u.manifest,
    currentValue: u.currentValue,
    newValue: u.newValue,
    currentVersion: u.currentVersion,
    newVersion: u.newVersion,
    updateType: u.updateType,
    group: u.group,
    ...(u.alias ? { alias: u.alias } : {}),
    ...(u.releaseNotesUrl ? { releaseNotesUrl: u.releaseNotesUrl } : {}),
  });
  if (json) {
    out(
      `${JSON.stringify({
        groups: result.groups.map((g) => ({ name: g.name, branch: g.branch, updates: g.updates.map(fields) })),
        skipped: result.skipped,
        problems: result.problems,
        dependencies: result.dependencies,
        registryRequests: requests(),
        durationMs: result.durationMs,
      })}\n`,
    );
  } else {
    if (result.findings.length === 0) out("No supported project found (package.json, go.mod, requirements.txt).\n");
    for (const g of result.groups) {
      out(`${g.branch} (${g.updates.length} update${g.updates.length === 1 ? "" : "s"})\n`);
      for (const u of g.updates) {
        const range = u.newValue === u.currentValue ? `${u.currentValue} (unchanged)` : `${u.currentValue} -> ${u.newValue}`;
        out(`  ${u.name}  ${range}  (${u.currentVersion ?? "?"} -> ${u.newVersion}, ${u.updateType})  ${u.manifest}\n`);
      }
    }
    if (result.findings.length && result.groups.length === 0) out(`Up to date: ${result.dependencies} dependencies checked.\n`);
    const held = result.skipped.filter((s) => s.reason === "too-young" || s.reason === "ignored");
    if (held.length) out(`\nHeld back:\n${held.map((s) => `  ${s.name}: ${s.detail}`).join("\n")}\n`);
    if (result.problems.length) out(`\nProblems:\n${result.problems.map((p) => `  ${p.message}`).join("\n")}\n`);
  }
  return result.problems.length ? EXIT_CODES.error : EXIT_CODES.submitted;
}

async function applyAndReport(ctx: CliContext, o: { repo: string; registry: string; model: ModelClientInput; json: boolean }): Promise<ExitCode> {
  const out = (text: string) => ctx.stdout.write(ctx.redact(text));
  const progress = createProgress({ stderr: ctx.stderr, tty: ctx.stderrIsTTY === true, redact: ctx.redact });
  let applied: Awaited<ReturnType<typeof applyUpgrades>>;
  try {
    applied = await applyUpgrades({ ctx, repo: o.repo, registry: o.registry, model: o.model, progress });
  } catch (e) {
    progress.done();
    if (ctx.signal?.aborted) {
      ctx.stderr.write("iquest-bot upgrade: interrupted; your checkout is untouched (branches of finished groups stay)\n");
      return EXIT_CODES.cancelled;
    }
    if (!(e instanceof UsageError)) throw e;
    ctx.stderr.write(ctx.redact(`iquest-bot upgrade: ${e.message}\n`));
    return EXIT_CODES.usage;
  }
  progress.done();
  if (o.json) {
    out(`${JSON.stringify({ upToDate: applied.upToDate, baseline: applied.baseline ?? null, groups: applied.groups })}\n`);
    return applied.code;
  }
  if (applied.upToDate) {
    out("Up to date: no update to apply.\n");
    return applied.code;
  }
  for (const g of applied.groups) {
    out(`${g.branch}: ${g.status}${g.error ? ` (${g.error})` : ""}\n`);
    for (const u of g.updates) out(`  ${u.name}  ${u.currentVersion ?? u.currentValue} -> ${u.newVersion}  (${u.updateType})  ${u.manifest}\n`);
    if (g.afterUpgrade) out(`  tests with the upgrade: ${g.afterUpgrade}\n`);
    if (g.afterRepair) out(`  tests after the repair: ${g.afterRepair}\n`);
    if (g.commits.bump) out(`  commits: ${g.commits.bump.slice(0, 12)} (bump)${g.commits.repair ? `, ${g.commits.repair.slice(0, 12)} (repair)` : ""}\n`);
    for (const n of g.notes) out(`  note: ${n}\n`);
  }
  out("\nNothing was pushed. Look at a branch with: git log -p HEAD..iquest/deps-<group>\n");
  return applied.code;
}

