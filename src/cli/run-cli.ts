import { USAGE } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { runFixCommand, type CliContext } from "./fix-command.js";
import { runUpgradeCommand } from "./upgrade-command.js";
import { runRunsCommand } from "./runs-command.js";
import { runCheckCommand } from "./check-command.js";
import { runReviewCommand } from "./review-command.js";
import { runEvalCommand } from "./eval-command.js";

/** `iquest-bot <command> …`: dispatch, in-process and testable. Returns the exit code. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const [command, ...rest] = argv;
  switch (command) {
    case "fix":
      try {
        return await runFixCommand(rest, ctx);
      } catch (err) {
        // Outcomes are handled inside; this is a failure of the CLI itself (e.g. the workspace).
        ctx.stderr.write(ctx.redact(`iquest-bot fix: ${(err as Error)?.stack ?? String(err)}\n`));
        return EXIT_CODES.error;
      }
    case "upgrade":
      try {
        return await runUpgradeCommand(rest, ctx);
      } catch (err) {
        ctx.stderr.write(ctx.redact(`iquest-bot upgrade: ${(err as Error)?.stack ?? String(err)}\n`));
        return EXIT_CODES.error;
      }
    case "review":
      try {
        return await runReviewCommand(rest, ctx);
      } catch (err) {
        ctx.stderr.write(ctx.redact(`iquest-bot review: ${(err as Error)?.stack ?? String(err)}\n`));
        return EXIT_CODES.error;
      }
    case "check":
      try {
        return await runCheckCommand(rest, ctx);
      } catch (err) {
        ctx.stderr.write(ctx.redact(`iquest-bot check: ${(err as Error)?.stack ?? String(err)}\n`));
        return EXIT_CODES.error;
      }
    case "eval":
      try {
        return await runEvalCommand(rest, ctx);
      } catch (err) {
        ctx.stderr.write(ctx.redact(`iquest-bot eval: ${(err as Error)?.stack ?? String(err)}\n`));
        return EXIT_CODES.error;
      }
    case "runs":
      try {
        return await runRunsCommand(rest, ctx);
      } catch (err) {
        ctx.stderr.write(ctx.redact(`iquest-bot runs: ${(err as Error)?.stack ?? String(err)}\n`));
        return EXIT_CODES.error;
      }
    case "help":
    case "--help":
    case "-h":
      ctx.stdout.write(USAGE);
      return EXIT_CODES.submitted;
    case undefined:
      ctx.stderr.write(`iquest-bot: no command given\n\n${USAGE}`);
      return EXIT_CODES.usage;
    default:
      ctx.stderr.write(`iquest-bot: unknown command "${command}"\n\n${USAGE}`);
      return EXIT_CODES.usage;
  }
}
