import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createRedactor } from "../../src/shared/redact.js";
import { testBaseEnv } from "./agent-fixtures.js";
import { startFakeVllm, type FakeVllm, type ScriptStep } from "./fake-vllm/index.js";

/** stdout or stderr of an in-process CLI run. */
export class Capture {
  text = "";
  write(s: string) {
    this.text += s;
    return true;
  }
}

/** A CLI context for a test: captured output, the fixed command environment, no secrets. */
export function cliContext(cwd: string, extra: Partial<CliContext> = {}): { ctx: CliContext; stdout: Capture; stderr: Capture } {
  const stdout = new Capture();
  const stderr = new Capture();
  return { stdout, stderr, ctx: { stdout, stderr, cwd, modelEnv: {}, commandEnv: testBaseEnv(cwd), redact: createRedactor([]), ...extra } };
}

/**
 * `iquest-bot <argv>` in `repo`, with the fake model playing `script` and the CLI's temporary
 * copies in a directory of their own, so a test can see that none is left behind (`leftovers`).
 */
export async function runCliWithModel(repo: string, argv: string[], script: ScriptStep[], extra: Partial<CliContext> = {}) {
  const vllm: FakeVllm = await startFakeVllm({ script });
  const temps = mkdtempSync(join(tmpdir(), "cli-temps-"));
  const { ctx, stdout, stderr } = cliContext(repo, { modelEnv: { MODEL_BASE_URL: vllm.url }, tmpDir: temps, ...extra });
  try {
    const code = await runCli(argv, ctx);
    return { code, out: stdout.text, err: stderr.text, vllm, leftovers: readdirSync(temps) };
  } finally {
    await vllm.close();
    rmSync(temps, { recursive: true, force: true });
  }
}
