import { describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bwrapArgs, ETC_FILES } from "../../src/workspace/bwrap-args.js";
import { checkRemoteUrl, gitAuthEnv, remoteUrlFor, resolveToken } from "../../src/workspace/credentials.js";
import { ForbiddenPushError } from "../../src/workspace/errors.js";
import { createGit } from "../../src/workspace/git.js";
import { OutputCapture } from "../../src/workspace/output-capture.js";
import { branchProblem, checkChangedFiles, parsePushStatus, parseRawDiff, scanAddedLines } from "../../src/workspace/publish-policy.js";
import { findSecrets, redact } from "../../src/shared/redact.js";

describe("branchProblem (test 16)", () => {
  test.each(["iquest/fix-12", "iquest/deps-npm", "iquest/deps/group.a"])("accepts %s", (b) => expect(branchProblem(b)).toBeNull());
  test.each([
    ["main", /not a bot branch/],
    ["refs/heads/iquest/x", /not a ref/],
    ["refs/tags/v1", /not a ref/],
    ["+iquest/fix-1", /force-push/],
    ["iquest/x:main", /refspec/],
    ["iquest/../main", /not a valid/],
    ["iquest/.hidden", /not a valid/],
    ["iquest/x.lock", /not a valid/],
    ["iquest/a b", /characters/],
    ["iquest/", /characters/],
    ["", /no branch/],
  ])("rejects %s", (b, why) => expect(branchProblem(b)).toMatch(why));
});

describe("checkRemoteUrl", () => {
  test("allows only the configured schemes, without credentials or transport helpers", () => {
    expect(checkRemoteUrl("https://github.com/o/r.git", ["https"]).host).toBe("github.com");
    for (const bad of ["ext::sh -c touch% /tmp/x", "fd::3", "ssh://git@github.com/o/r.git", "git://github.com/o/r.git", "file:///etc", "https://u:p@github.com/o/r.git", "https://github.com/o/r.git?x=1"]) {
      expect(() => checkRemoteUrl(bad, ["https"])).toThrow(ForbiddenPushError);
    }
  });

  test("remoteUrlFor validates names", () => {
    expect(remoteUrlFor("https://ghe.example.com/", "octo", "app.js")).toBe("https://ghe.example.com/octo/app.js.git");
    expect(() => remoteUrlFor("https://github.com", "..", "x")).toThrow();
    expect(() => remoteUrlFor("https://github.com", "o", "a/b")).toThrow();
  });
});

describe("credentials", () => {
  test("the token becomes an origin-scoped header in git's env config, never a URL", () => {
    const env = gitAuthEnv("https://ghe.example.com:8443/o/r.git", "ghs_abc");
    expect(env).toEqual({
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.https://ghe.example.com:8443/.extraHeader",
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from("x-access-token:ghs_abc").toString("base64")}`,
    });
    expect(gitAuthEnv("file:///tmp/r.git", "ghs_abc")).toEqual({});
  });

  test("malformed tokens are refused (no header injection)", async () => {
    await expect(resolveToken("ghs_a\r\nX-Evil: 1")).rejects.toThrow();
    await expect(resolveToken(async () => "")).rejects.toThrow();
    await expect(resolveToken(async () => "ghs_ok")).resolves.toBe("ghs_ok");
  });
});

describe("publish policy", () => {
  const raw = [
    ":100644 100644 aaaa bbbb M", ".github/workflows/ci.yml",
    ":000000 160000 0000 cccc A", "vendor/lib",
    ":100644 100644 dddd eeee M", ".gitmodules",
    ":100644 000000 ffff 0000 D", "old.txt",
    ":000000 100644 0000 1111 A", "big.bin",
    "",
  ].join("\0");

  test("parses raw diffs and flags workflows, submodules and sizes", () => {
    const files = parseRawDiff(raw);
    expect(files.map((f) => [f.status, f.path])).toEqual([["M", ".github/workflows/ci.yml"], ["A", "vendor/lib"], ["M", ".gitmodules"], ["D", "old.txt"], ["A", "big.bin"]]);
    files[4]!.size = 5_000_000;
    const v = checkChangedFiles(files, { maxFileBytes: 1_000_000 });
    expect(v.map((x) => [x.kind, x.path])).toEqual([["workflow", ".github/workflows/ci.yml"], ["submodule", "vendor/lib"], ["submodule", ".gitmodules"], ["too-large", "big.bin"]]);
  });

  test("finds secrets in added lines only, and never quotes them", () => {
    const key = `AKIA${"ABCDEFGHIJKLMNOP"}`;
    const diff = [
      "diff --git a/x.js b/x.js",
      "--- a/x.js",
      "+++ b/x.js",
      "@@ -1,0 +1,2 @@",
      "+const ok = 1;",
      `+const aws = "${key}";`,
      "@@ -10 +12 @@",
      `-const old = "${key}";`,
      "+const fine = 2;",
    ].join("\n");
    const v = scanAddedLines(diff);
    expect(v).toEqual([{ kind: "secret", path: "x.js", detail: "line 2 looks like a AWS access key" }]);
    expect(JSON.stringify(v)).not.toContain(key);
    expect(scanAddedLines("+++ b/a\n@@ -0,0 +1 @@\n+token = readToken()\n")).toEqual([]);
    expect(scanAddedLines("+++ b/a\n@@ -0,0 +1 @@\n+value: my-exact-secret-value\n", ["my-exact-secret-value"])).toEqual([
      expect.objectContaining({ detail: "line 1 looks like a known secret" }),
    ]);
  });

  test("reads git push --porcelain", () => {
    expect(parsePushStatus("To /r.git\n*\tabc:refs/heads/iquest/x\t[new branch]\nDone\n")).toEqual({ flag: "*", summary: "[new branch]" });
    expect(parsePushStatus("To /r.git\n!\tabc:refs/heads/iquest/x\t[rejected] (fetch first)\nDone\n")).toEqual({ flag: "!", summary: "[rejected] (fetch first)" });
  });

  test("findSecrets keeps redaction's behaviour and skips prose-prone patterns", () => {
    expect(findSecrets(`x ghs_${"a".repeat(36)}`)).toEqual(["GitHub token"]);
    expect(findSecrets("the token verificationMiddlewareForRequests runs first")).toEqual([]);
    expect(redact("token verificationMiddlewareForRequests")).toContain("[REDACTED]"); // unchanged redaction
  });
});

describe("bwrapArgs", () => {
  const base = {
    rootLayout: ["--symlink", "usr/bin", "/bin"],
    worktree: "/srv/ws/jobs/j-1/work",
    home: "/srv/ws/jobs/j-1/home",
    etcFiles: { passwd: "/s/passwd", group: "/s/group", hosts: "/s/hosts" },
    toolchainPaths: ["/opt/node"],
    tmpBytes: 1024,
    cwd: "/workspace/sub",
    env: { PATH: "/usr/bin", HOME: "/home/sandbox" },
    command: "npm test",
    shell: "/bin/bash",
  };

  test("mounts only the worktree, the home, the toolchains and a short /etc list; no network", () => {
    const args = bwrapArgs(base);
    expect(args.slice(0, 2)).toEqual(["--unshare-all", "--unshare-user"]);
    expect(args).not.toContain("--share-net");
    expect(args).toEqual(expect.arrayContaining(["--disable-userns", "--die-with-parent", "--new-session", "--clearenv"]));
    const binds = args.flatMap((a, i) => (/^--(ro-)?bind(-try)?$/.test(a) ? [args[i + 1]!] : []));
    expect(binds.sort()).toEqual(["/usr", ...ETC_FILES, "/s/passwd", "/s/group", "/s/hosts", "/opt/node", base.worktree, base.home].sort());
    expect(binds.some((b) => b === "/etc" || b === "/" || b.startsWith("/root") || b.includes("mirrors"))).toBe(false);
    expect(args.slice(-4)).toEqual(["--", "/bin/bash", "-c", "exec 2>&1\nnpm test"]);
    expect(args).toEqual(expect.arrayContaining(["--remount-ro", "/", "--size", "1024", "--tmpfs", "/tmp"]));
  });

  test("never the host's network: with egress, only the proxy's socket and the forwarder are bound in", () => {
    const args = bwrapArgs({ ...base, egress: { socket: "/s/egress.sock", forwarder: "/s/fwd.cjs" } });
    expect(args).not.toContain("--share-net");
    expect(args.slice(0, 2)).toEqual(["--unshare-all", "--unshare-user"]);
    const i = args.indexOf("/s/egress.sock");
    expect(args.slice(i - 1, i + 2)).toEqual(["--bind", "/s/egress.sock", "/run/iquest/egress.sock"]);
    const j = args.indexOf("/s/fwd.cjs");
    expect(args.slice(j - 1, j + 2)).toEqual(["--ro-bind", "/s/fwd.cjs", "/run/iquest/egress-forwarder.cjs"]);
  });
});

describe("OutputCapture", () => {
  test("keeps head and tail within the budget", () => {
    const c = new OutputCapture(100);
    c.push(Buffer.from("HEAD-" + "x".repeat(200)));
    c.push(Buffer.from("y".repeat(200) + "-TAIL"));
    const text = c.text();
    expect(c.truncated).toBe(true);
    expect(text.startsWith("HEAD-")).toBe(true);
    expect(text.endsWith("-TAIL")).toBe(true);
    expect(text).toContain("bytes of output omitted");
    expect(Buffer.byteLength(text)).toBeLessThan(160);
    const small = new OutputCapture(100);
    small.push(Buffer.from("short"));
    expect(small.text()).toBe("short");
    expect(small.truncated).toBe(false);
  });
});

describe("hardened host git (T9)", () => {
  test("repository hooks, hooksPath and fsmonitor do not run; the same plant runs under plain git", async () => {
    const dir = mkdtempSync(join(tmpdir(), "iquest-git-hardening-"));
    try {
      const markers = join(dir, "markers");
      mkdirSync(markers);
      const repo = join(dir, "repo");
      const env = { PATH: "/usr/bin:/bin", HOME: dir, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" };
      execFileSync("git", ["init", "-q", repo], { env });
      execFileSync("git", ["-C", repo, "config", "core.fsmonitor", `touch ${markers}/fsmonitor`], { env });
      execFileSync("git", ["-C", repo, "config", "core.hooksPath", join(repo, "hooks")], { env });
      mkdirSync(join(repo, "hooks"));
      for (const h of ["pre-commit", "post-commit", "post-index-change"]) {
        writeFileSync(join(repo, "hooks", h), `#!/bin/sh\ntouch ${markers}/${h}\n`);
        chmodSync(join(repo, "hooks", h), 0o755);
      }
      writeFileSync(join(repo, "a.txt"), "a\n");
      const git = createGit({ homeDir: dir, protocols: ["file"] });
      const who = ["-c", "user.name=t", "-c", "user.email=t@e"];
      await git(["-C", repo, "add", "a.txt"]);
      await git(["-C", repo, ...who, "commit", "-qm", "x"]);
      await git(["-C", repo, "status"]);
      expect(readdirSync(markers)).toEqual([]);
      // Control: plain git honours the planted configuration.
      execFileSync("git", ["-C", repo, ...who, "commit", "-q", "--allow-empty", "-m", "y"], { env, stdio: "pipe" });
      execFileSync("git", ["-C", repo, "status"], { env, stdio: "pipe" });
      expect(readdirSync(markers)).toEqual(expect.arrayContaining(["fsmonitor", "post-commit", "pre-commit"]));
      // And ext:: is refused by the transport allow-list.
      await expect(git(["ls-remote", "ext::sh -c touch% /tmp/iquest-ext-marker"])).rejects.toThrow(/not allowed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
