/**
 * The one line of a failed setup's output that says why, for the job card: a team reads
 * "No matching distribution found for setuptools>=77" and knows which registry or pin to fix,
 * where "exit code 1" tells it nothing. Pure: the output is the sandbox's, already free of tokens
 * (none enter the sandbox).
 */

// Root causes as package managers print them, first match wins: they print the cause before its
// consequences ("subprocess-exited-with-error", "A complete log of this run..."), so the first
// line matching one of these is the one to show.
const ROOT_CAUSES: RegExp[] = [
  /No matching distribution found for|Could not find a version that satisfies/i, // pip
  /\b(?:E404|E403|E401|ETARGET|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ERESOLVE|EINTEGRITY)\b/, // npm, yarn, pnpm
  // yarn berry prints every line with a code; these are progress and warnings, not causes.
  /\b(?:ERR_PNPM_\w+|YN(?!0000|0002|0007|0013|0060|0073|0086)\d{4})\b/, // pnpm, yarn berry
  /\b(?:403 Forbidden|404 Not Found|407 Proxy|Proxy Authentication|proxyconnect|tunnel connection failed|CONNECT tunnel failed)\b/i,
  /\bcommand not found\b|: not found$|No such file or directory/i,
  /\b(?:failed to (?:download|fetch|resolve|get)|could not (?:resolve|download|fetch|connect)|unable to (?:resolve|connect|access))\b/i, // cargo, go, maven, git
  /\bverifying .*: checksum mismatch|\bmissing go\.sum entry\b/i,
];
const GENERIC = /\b(?:error|ERR!|fatal|cannot|refused|timed? ?out)\b/i;
// Lines that look like causes but say nothing.
const NOISE = /A complete log of this run|^npm (?:ERR!|error)\s*$|^(?:npm (?:ERR!|error) )?(?:code|errno|syscall) \S+\s*$|\[notice\]|subprocess-exited-with-error|See above for output/i;

export function setupFailureLine(output: string, max = 240): string | undefined {
  const lines = output
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !NOISE.test(l));
  let line: string | undefined;
  for (const cause of ROOT_CAUSES) {
    line = lines.find((l) => cause.test(l));
    if (line) break;
  }
  line ??= [...lines].reverse().find((l) => GENERIC.test(l)) ?? lines.at(-1);
  if (line === undefined) return undefined;
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
