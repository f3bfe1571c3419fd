import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Plumbing over one bare repository. The simulator never keeps a work tree: seeds are written
 * with a throw-away index (hash-object → update-index → write-tree → commit-tree), so the bare
 * repo stays exactly what `git http-backend` serves and nothing is checked out on the "server".
 */

export const ZERO_SHA = "0".repeat(40);

export interface GitRunOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Resolve with the failed result instead of rejecting. */
  allowFail?: boolean;
}

export interface GitRunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * The environment every simulator git process gets: no system or global config (a developer's
 * `~/.gitconfig` must not change what the server does), no prompts, a stable locale.
 */
export function baseGitEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? tmpdir(),
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
  };
}

export async function runGit(args: string[], options: GitRunOptions & { cwd?: string } = {}): Promise<GitRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd: options.cwd,
      env: { ...baseGitEnv(), ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? -1, stdout: Buffer.concat(out), stderr: err };
      if (result.code !== 0 && !options.allowFail) {
        reject(new Error(`git ${args.join(" ")} failed (${result.code}): ${err.trim()}`));
      } else resolve(result);
    });
    child.stdin.on("error", () => {}); // a git that exits early closes stdin; the exit code tells.
    child.stdin.end(options.input ?? "");
  });
}

export interface Identity {
  name: string;
  email: string;
  /** ISO date or git date; defaults to now. */
  date?: string;
}

export interface CommitInfo {
  sha: string;
  tree: string;
  parents: string[];
  author: Required<Identity>;
  committer: Required<Identity>;
  message: string;
}

export interface TreeEntry {
  mode: string;
  type: "blob" | "tree" | "commit";
  sha: string;
  path: string;
  size?: number;
}

/** What a seed file is: text, bytes, or either with a mode (e.g. "100755"); null deletes. */
export type SeedFile = string | Buffer | { content: string | Buffer; mode?: "100644" | "100755" } | null;

export class BareRepo {
  constructor(readonly gitDir: string) {}

  git(args: string[], options: GitRunOptions = {}): Promise<GitRunResult> {
    return runGit(["--git-dir", this.gitDir, ...args], options);
  }

  async text(args: string[], options: GitRunOptions = {}): Promise<string> {
    return (await this.git(args, options)).stdout.toString("utf8");
  }

  /**
   * A bare repo configured the way GitHub's storage behaves for the app: partial clone and
   * fetch-by-sha allowed, pushes accepted over HTTP, `refs/pull/*` read-only (GitHub maintains
   * them), and the hooks that enforce the `workflows` permission and record pushes.
   */
  static async init(gitDir: string, defaultBranch: string, hooks: Record<string, string>): Promise<BareRepo> {
    await runGit(["init", "--quiet", "--bare", `--initial-branch=${defaultBranch}`, gitDir]);
    const repo = new BareRepo(gitDir);
    const config: Array<[string, string]> = [
      ["uploadpack.allowFilter", "true"],
      ["uploadpack.allowAnySHA1InWant", "true"],
      ["http.receivepack", "true"],
      ["receive.hideRefs", "refs/pull"],
      ["receive.denyDeleteCurrent", "true"],
      ["core.logAllRefUpdates", "false"],
    ];
    for (const [key, value] of config) await repo.git(["config", key, value]);
    for (const [name, script] of Object.entries(hooks)) {
      const path = join(gitDir, "hooks", name);
      await writeFile(path, script);
      await chmod(path, 0o755);
    }
    return repo;
  }

  /** The commit a ref or sha names, or undefined. */
  async resolve(ref: string): Promise<string | undefined> {
    const r = await this.git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`], { allowFail: true });
    return r.code === 0 ? r.stdout.toString().trim() : undefined;
  }

  async objectExists(sha: string): Promise<boolean> {
    return (await this.git(["cat-file", "-e", sha], { allowFail: true })).code === 0;
  }

  async refs(): Promise<Map<string, string>> {
    const out = await this.text(["for-each-ref", "--format=%(objectname) %(refname)"]);
    const refs = new Map<string, string>();
    for (const line of out.split("\n")) {
      if (!line) continue;
      const [sha, name] = line.split(" ");
      refs.set(name!, sha!);
    }
    return refs;
  }

  async updateRef(ref: string, sha: string, expectedOld?: string): Promise<void> {
    await this.git(["update-ref", ref, sha, ...(expectedOld ? [expectedOld] : [])]);
  }

  async deleteRef(ref: string): Promise<void> {
    await this.git(["update-ref", "-d", ref]);
  }

  async commitInfo(sha: string): Promise<CommitInfo> {
    const format = ["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"].join("%x00");
    const out = await this.text(["show", "-s", `--format=${format}`, sha]);
    const [h, t, p, an, ae, ad, cn, ce, cd, ...msg] = out.split("\0");
    return {
      sha: h!,
      tree: t!,
      parents: p ? p.split(" ").filter(Boolean) : [],
      author: { name: an!, email: ae!, date: ad! },
      committer: { name: cn!, email: ce!, date: cd! },
      message: msg.join("\0").replace(/\n+$/, ""),
    };
  }

  /** Commits reachable from `head` but not from `base`, oldest first (as GitHub lists them). */
  async commitsBetween(base: string | undefined, head: string, max = 250): Promise<string[]> {
    const args = ["rev-list", "--reverse", `--max-count=${max}`, head, ...(base ? [`^${base}`] : [])];
    return (await this.text(args)).split("\n").filter(Boolean);
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    const r = await this.git(["merge-base", a, b], { allowFail: true });
    return r.code === 0 ? r.stdout.toString().trim() : undefined;
  }

  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    return (await this.git(["merge-base", "--is-ancestor", ancestor, descendant], { allowFail: true })).code === 0;
  }

  /** The tree entry at `path` in `commit`, or the entries under it when it is a directory. */
  async lsTree(commit: string, path: string): Promise<TreeEntry[]> {
    const spec = path === "" ? [] : ["--", path];
    const out = await this.text(["ls-tree", "-z", "--long", commit, ...spec]);
    return parseLsTree(out);
  }

  async lsTreeRecursive(treeish: string): Promise<TreeEntry[]> {
    return parseLsTree(await this.text(["ls-tree", "-z", "-r", "-t", "--long", treeish]));
  }

  async readBlob(sha: string): Promise<Buffer> {
    return (await this.git(["cat-file", "blob", sha])).stdout;
  }

  /** The file's bytes at a ref, or undefined when the path is not a file there. */
  async readFile(ref: string, path: string): Promise<Buffer | undefined> {
    const commit = await this.resolve(ref);
    if (!commit) return undefined;
    const [entry] = (await this.lsTree(commit, path)).filter((e) => e.path === path && e.type === "blob");
    return entry ? this.readBlob(entry.sha) : undefined;
  }

  /**
   * Make a commit from `parent` (or from nothing) with files written or deleted. The index is a
   * temp file, so concurrent seeds and the bare repo itself are never disturbed.
   */
  async commitFiles(options: {
    parent?: string;
    files: Record<string, SeedFile>;
    message: string;
    author: Identity;
    committer?: Identity;
  }): Promise<string> {
    const tmp = await mkdtemp(join(tmpdir(), "gh-sim-index-"));
    const env = { GIT_INDEX_FILE: join(tmp, "index") };
    try {
      await this.git(options.parent ? ["read-tree", options.parent] : ["read-tree", "--empty"], { env });
      const lines: string[] = [];
      for (const [path, file] of Object.entries(options.files)) {
        if (file === null) {
          lines.push(`0 ${ZERO_SHA}\t${path}`);
          continue;
        }
        const { content, mode } =
          typeof file === "string" || Buffer.isBuffer(file) ? { content: file, mode: "100644" } : { mode: "100644", ...file };
        const sha = (await this.text(["hash-object", "-w", "--stdin"], { input: content })).trim();
        lines.push(`${mode} ${sha}\t${path}`);
      }
      if (lines.length) await this.git(["update-index", "--index-info"], { env, input: lines.join("\n") + "\n" });
      const tree = (await this.text(["write-tree"], { env })).trim();
      return this.commitTree(tree, options.parent ? [options.parent] : [], options.message, options.author, options.committer);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Make a commit holding exactly the files of a directory (honouring its .gitignore). */
  async commitDirectory(options: { dir: string; parent?: string; message: string; author: Identity; committer?: Identity }): Promise<string> {
    const tmp = await mkdtemp(join(tmpdir(), "gh-sim-index-"));
    const env = { GIT_INDEX_FILE: join(tmp, "index") };
    try {
      await runGit(["--git-dir", this.gitDir, "--work-tree", options.dir, "add", "--all", "."], { cwd: options.dir, env });
      const tree = (await this.text(["write-tree"], { env })).trim();
      return this.commitTree(tree, options.parent ? [options.parent] : [], options.message, options.author, options.committer);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async commitTree(tree: string, parents: string[], message: string, author: Identity, committer: Identity = author): Promise<string> {
    const env: Record<string, string> = {
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: committer.name,
      GIT_COMMITTER_EMAIL: committer.email,
    };
    if (author.date) env.GIT_AUTHOR_DATE = author.date;
    if (committer.date) env.GIT_COMMITTER_DATE = committer.date;
    const args = ["commit-tree", tree, ...parents.flatMap((p) => ["-p", p]), "-F", "-"];
    return (await this.text(args, { env, input: message })).trim();
  }
}

function parseLsTree(out: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const record of out.split("\0")) {
    if (!record) continue;
    // "<mode> SP <type> SP <sha> SP+ <size> TAB <path>"
    const tab = record.indexOf("\t");
    const [mode, type, sha, size] = record.slice(0, tab).split(/\s+/);
    entries.push({
      mode: mode!,
      type: type as TreeEntry["type"],
      sha: sha!,
      path: record.slice(tab + 1),
      ...(size && size !== "-" ? { size: Number(size) } : {}),
    });
  }
  return entries;
}
