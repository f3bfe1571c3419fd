import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { parseRepoConfig, describeProblems } from "../config/repo-config.js";
import { createDirFiles } from "../deps/dir-files.js";
import { DAY_MS, findUpdates } from "../deps/find-updates.js";
import { parseIgnoreRules } from "../deps/ignore.js";
import { createNpmEcosystem } from "../deps/npm/npm-ecosystem.js";
import { normalizeRegistry } from "../deps/npm/npmrc.js";
import { createNpmRegistryClient } from "../deps/npm/registry.js";
import type { ProposedUpdate } from "../deps/types.js";
import { UsageError } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import type { CliContext } from "./fix-command.js";

/**
 * `iquest-bot upgrade --repo PATH --dry-run [--json]`: what the upgrade job would propose for a
 * local checkout, one group per branch it would make, with no GitHub, no sandbox and no model.
 * The repository's `.github/iquest.yml` (upgrade section) and `.npmrc` are honoured. Applying is
 * the worker's job (it needs the sandbox, the tests and a place to push), so `--dry-run` is
 * required: it says what a run does not do.
 */
export const UPGRADE_USAGE = `Usage:
  iquest-bot upgrade --repo PATH --dry-run [--json] [--registry URL]

Prints the dependency updates the upgrade job would propose for a local checkout: one group per
branch it would make (iquest/deps-<group>), using the repository's .github/iquest.yml and .npmrc.
Nothing is changed: applying, testing and repairing run in the worker.

Options:
  --repo PATH      the checkout to read
  --dry-run        required: propose only
  --json           one JSON object on stdout: groups (name, branch, updates), skipped, problems
  --registry URL   the npm registry for packages .npmrc does not place elsewhere
                   (default: $NPM_REGISTRY or https://registry.npmjs.org/)

Each update has: name, depType, manifest, currentValue, newValue, currentVersion (locked),
newVersion, updateType (major, minor, patch or lockfile), group.

Exit codes: 0 proposals printed (perhaps none); 1 part of the project or a registry could not be
read (the problems are printed); 2 bad arguments.
`;

const argsSchema = z.object({
  repo: z.string({ error: "--repo PATH is required" }).min(1, "--repo PATH is required"),
  "dry-run": z.literal(true, { error: "only --dry-run is supported: applying upgrades runs in the worker (it needs the sandbox, the tests and GitHub)" }),
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
  try {
    let values: Record<string, unknown>;
    try {
      ({ values } = parseArgs({
        args: [...argv],
        strict: true,
        allowPositionals: false,
        options: { repo: { type: "string" }, "dry-run": { type: "boolean" }, json: { type: "boolean" }, registry: { type: "string" } },
      }));
    } catch (e) {
      throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
    }
    const parsed = argsSchema.safeParse(values);
    if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join("; "));
    repo = resolve(ctx.cwd, parsed.data.repo);
    json = parsed.data.json;
    const chosen = parsed.data.registry ?? ctx.npmRegistry ?? "https://registry.npmjs.org/";
    const normalized = normalizeRegistry(chosen);
    if (!normalized) throw new UsageError(`--registry ${chosen}: not an http(s) URL`);
    registry = normalized;
    if (!(await stat(repo).catch(() => undefined))?.isDirectory()) throw new UsageError(`--repo ${parsed.data.repo}: not a directory`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`iquest-bot upgrade: ${e.message}\n\n${UPGRADE_USAGE}`);
    return EXIT_CODES.usage;
  }

  const configText = await readFile(join(repo, ".github", "iquest.yml"), "utf8").catch(() => undefined);
  const loaded = parseRepoConfig(configText);
  if (loaded.problems.length) err(`iquest-bot upgrade: .github/iquest.yml has problems (defaults used for them):\n${describeProblems(loaded.problems)}\n`);
  const cfg = loaded.config.upgrade;
  // On the user's own machine the repository's registries are theirs to contact.
  const client = createNpmRegistryClient({ isAllowed: (url) => /^https?:\/\//.test(url), ...(ctx.signal ? { signal: ctx.signal } : {}) });
  const result = await findUpdates({
    files: createDirFiles(repo),
    ecosystems: [createNpmEcosystem({ defaultRegistry: registry, client })],
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
        registryRequests: client.stats.requests,
        durationMs: result.durationMs,
      })}\n`,
    );
  } else {
    if (result.findings.length === 0) out("No npm project (package.json) found.\n");
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
