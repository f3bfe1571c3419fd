/**
 * `/iquest` comment commands. A command is the first line of a comment, outside code fences and
 * quotes, that starts with `/iquest`. Quoted replies ("> /iquest fix") and examples in code
 * blocks never trigger anything.
 */

export type Command =
  | { kind: "fix"; notes: string }
  | { kind: "review" }
  | { kind: "upgrade" }
  | { kind: "stop" }
  | { kind: "help" }
  /** Anything else: feedback on the bot's own PR, or an unknown command elsewhere. */
  | { kind: "other"; word: string; text: string };

export const COMMAND_WORDS = ["fix", "review", "upgrade", "stop", "help"] as const;

const MAX_NOTES = 4000;

export function parseCommand(body: string | null | undefined): Command | undefined {
  if (!body) return undefined;
  const lines = body.replace(/\r\n?/g, "\n").split("\n");
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    const fenceMatch = /^(```+|~~~+)/.exec(trimmed);
    if (fenceMatch) {
      const marker = fenceMatch[1]!;
      if (fence === undefined) fence = marker[0]!;
      else if (marker[0] === fence) fence = undefined;
      continue;
    }
    if (fence !== undefined || trimmed.startsWith(">") || /^( {4}|\t)/.test(line)) continue;
    const match = /^\/iquest(?:\s+(.*))?$/i.exec(trimmed);
    if (!match) continue;
    const rest = (match[1] ?? "").trim();
    const [first = "", ...words] = rest.split(/\s+/);
    const word = first.toLowerCase();
    const following = lines.slice(i + 1).join("\n").trim();
    const tail = [words.join(" "), following].filter(Boolean).join("\n").trim();
    switch (word) {
      case "":
      case "help":
        return { kind: "help" };
      case "fix":
        return { kind: "fix", notes: tail.slice(0, MAX_NOTES) };
      case "review":
        return { kind: "review" };
      case "upgrade":
        return { kind: "upgrade" };
      case "stop":
      case "cancel":
        return { kind: "stop" };
      default:
        return { kind: "other", word: first, text: [rest, following].filter(Boolean).join("\n").slice(0, MAX_NOTES) };
    }
  }
  return undefined;
}

export function helpText(label: string): string {
  return [
    "**iquest-bot commands** (users with write access only):",
    "",
    "| command | what it does |",
    "| --- | --- |",
    "| `/iquest fix [notes]` | on an issue: work on a fix and open a draft PR. Notes are added to the task. |",
    "| `/iquest review` | on a pull request: review it now (drafts included). |",
    "| `/iquest upgrade` | update outdated dependencies now, one PR per group. |",
    "| `/iquest stop` | stop the job running on this issue or pull request. |",
    "| `/iquest help` | show this list. |",
    "| `/iquest <feedback>` | on a PR opened by iquest-bot: another round with your feedback. |",
    "",
    `Labelling an issue \`${label}\` works like \`/iquest fix\`. Settings live in \`.github/iquest.yml\`.`,
  ].join("\n");
}

export function unknownCommandText(word: string, label: string): string {
  const safe = word.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 40);
  return `I don't know the command \`/iquest ${safe}\`.\n\n${helpText(label)}`;
}
