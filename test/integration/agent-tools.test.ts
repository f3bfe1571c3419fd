import { afterEach, beforeEach, describe, expect, test } from "@jest/globals";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../../src/agent/environment.js";
import { createLocalEnvironment } from "../../src/agent/local-environment.js";
import { createExecuteBashTool } from "../../src/agent/tools/execute-bash.js";
import { createEditorTool, type EditorArgs } from "../../src/agent/tools/str-replace-editor.js";
import type { ToolContext } from "../../src/agent/tools/types.js";
import { processGone, waitForFile } from "../support/processes.js";

let dir: string;
let root: string;
let outside: string;
let env: Environment;
let ctx: ToolContext;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "agent-tools-"));
  root = join(dir, "repo");
  outside = join(dir, "outside");
  mkdirSync(join(root, "src", "deep", "deeper"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), "TOP SECRET\n");
  writeFileSync(join(root, "src", "add.js"), "export function add(a, b) {\n  return a - b;\n}\n");
  writeFileSync(join(root, "src", "deep", "deeper", "hidden-level.js"), "x\n");
  writeFileSync(join(root, "src", "deep", "level2.js"), "y\n");
  writeFileSync(join(root, ".env"), "TOKEN=1\n");
  env = await createLocalEnvironment({ root, baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  ctx = { env, signal: new AbortController().signal, workdir: env.root };
});

afterEach(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

const editor = () => createEditorTool();
const run = (tool: ReturnType<typeof createEditorTool>, args: EditorArgs) => tool.run(tool.schema.parse(args), ctx);

describe("local environment", () => {
  test("runs commands at the root with only the given environment, stdout and stderr together", async () => {
    process.env.AGENT_TEST_CANARY = "canary-value-123";
    try {
      const r = await env.exec("pwd; echo out; echo err >&2; echo \"canary=${AGENT_TEST_CANARY:-unset}\"; exit 3", { timeoutMs: 5000 });
      expect(r.exitCode).toBe(3);
      expect(r.output).toBe(`${env.root}\nout\nerr\ncanary=unset\n`);
      expect(r.truncated).toBe(false);
      expect(r.killed).toBeUndefined();
    } finally {
      delete process.env.AGENT_TEST_CANARY;
    }
  });

  test("a timeout kills the whole process group, grandchildren included", async () => {
    const pidFile = join(dir, "pids");
    const started = Date.now();
    const r = await env.exec(`sleep 30 & echo $! > ${pidFile}; sleep 30`, { timeoutMs: 500 });
    expect(r.killed).toBe("timeout");
    expect(r.exitCode).toBeNull();
    expect(Date.now() - started).toBeLessThan(3000);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(await processGone(pid)).toBe(true);
  });

  test("an abort kills the command at once", async () => {
    const pidFile = join(dir, "pid");
    const controller = new AbortController();
    const pending = env.exec(`echo $$ > ${pidFile}; exec sleep 30`, { timeoutMs: 60_000, signal: controller.signal });
    const pid = Number(await waitForFile(pidFile));
    controller.abort();
    const r = await pending;
    expect(r.killed).toBe("cancelled");
    expect(await processGone(pid)).toBe(true);
  });

  test("background processes do not outlive the command", async () => {
    const pidFile = join(dir, "bg");
    const r = await env.exec(`sleep 30 & echo $! > ${pidFile}; echo started`, { timeoutMs: 5000 });
    expect(r.exitCode).toBe(0);
    expect(await processGone(Number(readFileSync(pidFile, "utf8")))).toBe(true);
  });

  test("output over the cap keeps head and tail, and says so", async () => {
    const r = await env.exec("seq 1 100000", { timeoutMs: 10_000, maxOutputBytes: 2000 });
    expect(r.truncated).toBe(true);
    expect(r.output.startsWith("1\n2\n3\n")).toBe(true);
    expect(r.output.trimEnd().endsWith("99999\n100000")).toBe(true);
    expect(r.output).toMatch(/bytes of output dropped/);
    expect(r.output.length).toBeLessThan(2200);
  });

  test("files: read and write confined to the workspace, symlinks included", async () => {
    await env.writeFile("new/dir/file.txt", "hello");
    expect(readFileSync(join(root, "new", "dir", "file.txt"), "utf8")).toBe("hello");
    expect((await env.readFile("src/add.js")).toString()).toContain("return a - b");
    symlinkSync(outside, join(root, "link-out"));
    symlinkSync(join(outside, "secret.txt"), join(root, "secret-link"));
    symlinkSync(join(outside, "does-not-exist"), join(root, "dangling"));
    await expect(env.readFile("../outside/secret.txt")).rejects.toThrow(/outside the workspace/);
    await expect(env.readFile("link-out/secret.txt")).rejects.toThrow(/outside the workspace/);
    await expect(env.readFile("secret-link")).rejects.toThrow(/outside the workspace/);
    await expect(env.writeFile("link-out/planted.txt", "x")).rejects.toThrow(/outside the workspace/);
    await expect(env.writeFile("link-out/sub/dir/planted.txt", "x")).rejects.toThrow(/outside the workspace/);
    await expect(env.writeFile("dangling", "x")).rejects.toThrow(/symbolic link/);
    expect(existsSync(join(outside, "planted.txt"))).toBe(false);
    expect(existsSync(join(outside, "sub"))).toBe(false);
    expect(existsSync(join(outside, "does-not-exist"))).toBe(false);
  });
});

describe("execute_bash", () => {
  test("long output is cut to head and tail with a marker, exit code shown", async () => {
    const bash = createExecuteBashTool();
    const r = await bash.run({ command: "seq 1 500; exit 1" }, ctx);
    const lines = r.output.split("\n");
    expect(lines[0]).toBe("1");
    expect(lines[39]).toBe("40");
    expect(lines[40]).toMatch(/\[\.\.\. 420 lines \(\d+ characters\) cut from the middle \.\.\.\]/);
    expect(lines[80]).toBe("500");
    expect(lines[81]).toBe("[exit code: 1]");
    expect(r.commandMs).toBeGreaterThan(0);
  });

  test("a command past its timeout is killed and the model is told", async () => {
    const bash = createExecuteBashTool({ timeoutMs: 300 });
    const r = await bash.run({ command: "echo before; sleep 20" }, ctx);
    expect(r.output).toMatch(/^before\n\[the command was killed after 0 seconds/);
  });

  test("an empty command is an error", async () => {
    const r = await createExecuteBashTool().run({ command: "  " }, ctx);
    expect(r.isError).toBe(true);
  });
});

describe("str_replace_editor", () => {
  test("view a file with line numbers, and a range", async () => {
    const e = editor();
    const all = await run(e, { command: "view", path: "src/add.js" });
    expect(all.output).toBe(
      "Here's the result of running `cat -n` on src/add.js:\n     1\texport function add(a, b) {\n     2\t  return a - b;\n     3\t}",
    );
    const part = await run(e, { command: "view", path: `${env.root}/src/add.js`, view_range: [2, -1] });
    expect(part.output).toBe("Here's the result of running `cat -n` on src/add.js:\n     2\t  return a - b;\n     3\t}");
    expect((await run(e, { command: "view", path: "src/add.js", view_range: [9, 10] })).output).toMatch(/outside the file, which has 3 lines/);
  });

  test("view_range given as text (text protocol) is coerced", async () => {
    const e = editor();
    const args = e.schema.parse({ command: "view", path: "src/add.js", view_range: "[1, 1]" });
    expect((await e.run(args, ctx)).output).toMatch(/ {5}1\texport function add/);
    expect(e.schema.parse({ command: "insert", path: "x", insert_line: "3", new_str: "y" }).insert_line).toBe(3);
  });

  test("view a directory: two levels deep, hidden files left out", async () => {
    const r = await run(editor(), { command: "view", path: "." });
    expect(r.output.split("\n").slice(1)).toEqual(["src/", "src/add.js", "src/deep/"]);
    const sub = await run(editor(), { command: "view", path: "src" });
    expect(sub.output.split("\n").slice(1)).toEqual(["src/add.js", "src/deep/", "src/deep/deeper/", "src/deep/level2.js"]);
  });

  test("str_replace: exactly one match is replaced and a snippet shown; undo restores", async () => {
    const e = editor();
    const r = await run(e, { command: "str_replace", path: "src/add.js", old_str: "return a - b;", new_str: "return a + b;" });
    expect(r.isError).toBeUndefined();
    expect(r.output).toContain("     2\t  return a + b;");
    expect(readFileSync(join(root, "src/add.js"), "utf8")).toBe("export function add(a, b) {\n  return a + b;\n}\n");
    const u = await run(e, { command: "undo_edit", path: "src/add.js" });
    expect(u.output).toMatch(/undone successfully/);
    expect(readFileSync(join(root, "src/add.js"), "utf8")).toContain("return a - b;");
    expect((await run(e, { command: "undo_edit", path: "src/add.js" })).output).toMatch(/no edit to undo/);
  });

  test("str_replace with no match says so, and hints at whitespace", async () => {
    const e = editor();
    const none = await run(e, { command: "str_replace", path: "src/add.js", old_str: "return a * b;", new_str: "x" });
    expect(none.isError).toBe(true);
    expect(none.output).toMatch(/did not appear verbatim in src\/add\.js/);
    const ws = await run(e, { command: "str_replace", path: "src/add.js", old_str: "return    a - b;", new_str: "x" });
    expect(ws.output).toMatch(/match if whitespace were ignored/);
    expect(readFileSync(join(root, "src/add.js"), "utf8")).toContain("return a - b;");
  });

  test("str_replace with several matches says how many and where, and changes nothing", async () => {
    writeFileSync(join(root, "dup.txt"), "a\nfoo\nb\nfoo\nc\nfoo\n");
    const r = await run(editor(), { command: "str_replace", path: "dup.txt", old_str: "foo", new_str: "bar" });
    expect(r.isError).toBe(true);
    expect(r.output).toMatch(/appears 3 times in dup\.txt \(at lines 2, 4, 6\)/);
    expect(readFileSync(join(root, "dup.txt"), "utf8")).toBe("a\nfoo\nb\nfoo\nc\nfoo\n");
  });

  test("create refuses to overwrite; insert adds after a line; undo of create removes the file", async () => {
    const e = editor();
    expect((await run(e, { command: "create", path: "src/add.js", file_text: "x" })).output).toMatch(/already exists/);
    expect((await run(e, { command: "create", path: "lib/new.txt", file_text: "one\nthree\n" })).output).toMatch(/created/);
    const ins = await run(e, { command: "insert", path: "lib/new.txt", insert_line: 1, new_str: "two" });
    expect(ins.output).toContain("     2\ttwo");
    expect(readFileSync(join(root, "lib/new.txt"), "utf8")).toBe("one\ntwo\nthree\n");
    expect((await run(e, { command: "insert", path: "lib/new.txt", insert_line: 9, new_str: "x" })).output).toMatch(/between 0 .* and 3/);
    await run(e, { command: "undo_edit", path: "lib/new.txt" });
    expect(readFileSync(join(root, "lib/new.txt"), "utf8")).toBe("one\nthree\n");
    await run(e, { command: "undo_edit", path: "lib/new.txt" });
    expect(existsSync(join(root, "lib/new.txt"))).toBe(false);
  });

  test("paths outside the workspace are refused, through .. or a symlink", async () => {
    symlinkSync(outside, join(root, "escape"));
    const e = editor();
    for (const path of ["../outside/secret.txt", join(outside, "secret.txt"), "/etc/passwd", "escape/secret.txt"]) {
      const r = await run(e, { command: "view", path });
      expect(r.isError).toBe(true);
      expect(r.output).toMatch(/outside the workspace/);
      expect(r.output).not.toContain("TOP SECRET");
    }
    const w = await run(e, { command: "create", path: "escape/planted.txt", file_text: "x" });
    expect(w.isError).toBe(true);
    expect(existsSync(join(outside, "planted.txt"))).toBe(false);
    const s = await run(e, { command: "str_replace", path: "escape/secret.txt", old_str: "TOP", new_str: "NOT" });
    expect(s.isError).toBe(true);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("TOP SECRET\n");
  });

  test("a binary file gets a clear message, not garbage", async () => {
    writeFileSync(join(root, "logo.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0xff, 0xfe]));
    const e = editor();
    const v = await run(e, { command: "view", path: "logo.png" });
    expect(v.isError).toBe(true);
    expect(v.output).toMatch(/logo\.png is a binary file \(14 bytes\); the editor works on text files only/);
    const r = await run(e, { command: "str_replace", path: "logo.png", old_str: "PNG", new_str: "GIF" });
    expect(r.output).toMatch(/binary file/);
  });

  test("a huge file: view points to view_range, edits point to sed, a range still works", async () => {
    const lines = Array.from({ length: 50_000 }, (_, i) => `line ${i + 1} ${"x".repeat(90)}`).join("\n");
    writeFileSync(join(root, "huge.txt"), `${lines}\n`);
    const e = createEditorTool({ maxFileBytes: 1024 * 1024 });
    const v = await run(e, { command: "view", path: "huge.txt" });
    expect(v.isError).toBe(true);
    expect(v.output).toMatch(/huge\.txt is 4\.\d MiB \(50000 lines\), too large to view whole\. Use view_range/);
    const r = await run(e, { command: "view", path: "huge.txt", view_range: [25_000, 25_001] });
    expect(r.output.split("\n").slice(1)).toEqual([` 25000\tline 25000 ${"x".repeat(90)}`, ` 25001\tline 25001 ${"x".repeat(90)}`]);
    const s = await run(e, { command: "str_replace", path: "huge.txt", old_str: "line 7 ", new_str: "seven " });
    expect(s.output).toMatch(/more than the editor's limit of 1\.0 MiB for edits\. Edit it with execute_bash/);
  });

  test("a long view is cut at a line boundary with a note to continue", async () => {
    writeFileSync(join(root, "long.txt"), Array.from({ length: 3000 }, (_, i) => `row ${i + 1}`).join("\n"));
    const r = await run(editor(), { command: "view", path: "long.txt" });
    expect(r.output.length).toBeLessThan(17_000);
    expect(r.output).toMatch(/\[output cut at line (\d+) of 3000 to save context; use view_range \[\d+, \d+\] to continue/);
    const last = Number(/cut at line (\d+)/.exec(r.output)![1]);
    expect(r.output).toContain(`\trow ${last}\n`);
    expect(r.output).not.toContain(`\trow ${last + 1}\n`);
  });

  test("missing parameters for a command are errors the model can fix", async () => {
    const e = editor();
    expect((await run(e, { command: "str_replace", path: "src/add.js" })).output).toMatch(/`old_str` is required/);
    expect((await run(e, { command: "create", path: "a.txt" })).output).toMatch(/`file_text` is required/);
    expect((await run(e, { command: "view", path: "nope.txt" })).output).toMatch(/nope\.txt does not exist/);
  });
});
