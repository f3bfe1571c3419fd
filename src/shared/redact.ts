/**
 * One redaction function for every string that leaves the app: comments, PR bodies, review
 * comments, check output, logs, trajectories and the run viewer. Patterns catch the token forms
 * GitHub and model servers use; `known` adds exact values the process holds (webhook secret,
 * model API key) so that even a secret with no recognizable shape is removed.
 */

const MASK = "[REDACTED]";

// [pattern, replacement, name]. A name marks the pattern as precise enough for `findSecrets`
// (scanning code the bot is about to publish); unnamed ones are redaction-only, because they
// also match ordinary prose or code.
const PATTERNS: ReadonlyArray<[RegExp, string, string?]> = [
  // PEM private keys (RSA, EC, OPENSSH, PKCS#8), whole block.
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, MASK, "private key"],
  // Credentials in URLs: https://x-access-token:TOKEN@host, https://user:pass@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/:@'"]+:[^\s/@'"]+@/gi, `$1${MASK}@`, "credentials in a URL"],
  // GitHub tokens: classic and new long server tokens (ghs_ may be ~520 chars with . and -).
  [/\bgh[pousr]_[A-Za-z0-9_.-]{20,}/g, MASK, "GitHub token"],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, MASK, "GitHub token"],
  // Authorization headers.
  [/\b(authorization\s*[:=]\s*)(?:bearer|token|basic)\s+[^\s'"]+/gi, `$1${MASK}`, "Authorization header"],
  [/\b(bearer|token)\s+[A-Za-z0-9_.\-=]{20,}/gi, `$1 ${MASK}`],
  // JWTs (GitHub app JWTs, other bearer tokens).
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, MASK, "JWT"],
  // Common vendor keys: OpenAI-style, AWS access key ids, Slack, Google.
  [/\bsk-[A-Za-z0-9_-]{20,}/g, MASK, "API key"],
  [/\bAKIA[0-9A-Z]{16}\b/g, MASK, "AWS access key"],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, MASK, "Slack token"],
  [/\bAIza[0-9A-Za-z_-]{35}\b/g, MASK, "Google API key"],
  // Generic "api_key=...", "secret: ...", "password=..." assignments whose value looks like a
  // secret (12+ characters with a digit, no call syntax), so ordinary code such as `apiKey = getKey()`
  // in a review suggestion is left alone.
  [
    /\b([A-Za-z0-9_]*(?:api[_-]?key|secret|password|passwd|private[_-]?key|access[_-]?token|auth[_-]?token)[A-Za-z0-9_]*["']?\s*[:=]\s*["']?)(?=[^\s"'`,;()]*\d)[^\s"'`,;()]{12,}/gi,
    `$1${MASK}`,
    "secret assignment",
  ],
];

export type Redact = (text: string) => string;

/**
 * Build a redactor. `known` are exact secret values (at least 6 characters; shorter values would
 * mangle ordinary text) that must never appear in output.
 */
export function createRedactor(known: ReadonlyArray<string | undefined> = []): Redact {
  const exact = [...new Set(known.filter((s): s is string => typeof s === "string" && s.length >= 6))]
    // Longest first, so a secret that contains another is masked whole.
    .sort((a, b) => b.length - a.length);
  return (text: string): string => {
    if (!text) return text;
    let out = text;
    for (const secret of exact) {
      if (out.includes(secret)) out = out.split(secret).join(MASK);
    }
    for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
    return out;
  };
}

/** Pattern-only redaction, for code that holds no secrets of its own. */
export const redact: Redact = createRedactor();

/** Redact every string inside a JSON-like value (for trajectories and structured logs). */
export function redactDeep<T>(value: T, r: Redact = redact): T {
  if (typeof value === "string") return r(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, r)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, r);
    return out as T;
  }
  return value;
}

/**
 * The kinds of secret found in `text` (empty when none), using only the precise patterns plus
 * `known` exact values. For checking content the bot is about to publish: the caller reports the
 * kind and the place, never the match itself.
 */
export function findSecrets(text: string, known: ReadonlyArray<string | undefined> = []): string[] {
  const found = new Set<string>();
  for (const secret of known) if (typeof secret === "string" && secret.length >= 6 && text.includes(secret)) found.add("known secret");
  for (const [re, , name] of PATTERNS) if (name && text.search(re) !== -1) found.add(name);
  return [...found];
}
