import { z } from "zod";
import { REVIEW_SEVERITIES } from "../../config/repo-config.js";

/**
 * What the bot remembers about a PR across pushes: the heads it reviewed and the findings it
 * posted (inline or in a summary). Two copies, on purpose:
 * - Redis (`ReviewMemory`, implemented in memory-store.ts over the worker's connection): fast,
 *   and the first place a job looks;
 * - a hidden marker at the end of each review's summary, holding that review's head and
 *   findings: GitHub keeps it as long as the PR lives, so a lost or flushed Redis does not mean
 *   re-posting everything. Only reviews written by this app's bot are read back.
 * A job reads both and merges them. This module is the pure part: the shape, the marker, the merge.
 */

export const postedFindingSchema = z.object({
  path: z.string().max(1000),
  /** codeHash() of the lines under the finding at the head it was posted on. */
  codeHash: z.string().regex(/^[0-9a-f]{16}$/),
  title: z.string().max(200),
  /** Start of the explanation (MEMORY_TEXT_CHARS). */
  text: z.string().max(1000),
  severity: z.enum(REVIEW_SEVERITIES),
  line: z.number().int().min(1),
  head: z.string().regex(/^[0-9a-f]{40}$/),
});

export type PostedFinding = z.infer<typeof postedFindingSchema>;

export const memoryStateSchema = z.object({
  /** Heads reviewed, oldest first; the last one is where the next review starts from. */
  heads: z.array(z.string().regex(/^[0-9a-f]{40}$/)).max(500),
  findings: z.array(postedFindingSchema).max(2000),
});

export type ReviewMemoryState = z.infer<typeof memoryStateSchema>;

export const emptyMemory = (): ReviewMemoryState => ({ heads: [], findings: [] });

/** The durable, fast copy. Implementations must not throw for "nothing stored": return undefined. */
export interface ReviewMemory {
  get(repoId: number, pr: number): Promise<ReviewMemoryState | undefined>;
  put(repoId: number, pr: number, state: ReviewMemoryState): Promise<void>;
}

/** One review's contribution, as its marker holds it. */
export interface ReviewRecord {
  head: string;
  findings: PostedFinding[];
}

const MARKER_PREFIX = "<!-- iquest-review:v1 ";
const MARKER_RE = /<!-- iquest-review:v1 ([A-Za-z0-9_-]+) -->/g;
const markerSchema = z.object({ head: z.string().regex(/^[0-9a-f]{40}$/), findings: z.array(postedFindingSchema).max(200) });

/** The hidden marker: base64url JSON, so no finding text can close the HTML comment early. */
export function encodeMarker(record: ReviewRecord): string {
  return `${MARKER_PREFIX}${Buffer.from(JSON.stringify(record), "utf8").toString("base64url")} -->`;
}

export function decodeMarker(body: string | null | undefined): ReviewRecord | undefined {
  // The last one: the bot writes its marker at the very end, after any model-written text
  // (which could quote a marker inside a code block).
  const match = body ? [...body.matchAll(MARKER_RE)].at(-1) : undefined;
  if (!match) return undefined;
  try {
    const parsed = markerSchema.safeParse(JSON.parse(Buffer.from(match[1]!, "base64url").toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Merge memory from Redis and from the markers of the bot's reviews (in posting order). */
export function mergeMemory(stored: ReviewMemoryState | undefined, records: readonly ReviewRecord[]): ReviewMemoryState {
  const heads = [...(stored?.heads ?? [])];
  const findings = [...(stored?.findings ?? [])];
  const key = (f: PostedFinding) => `${f.path}\0${f.codeHash}\0${f.title}`;
  const seen = new Set(findings.map(key));
  for (const record of records) {
    // A head already known keeps its place (Redis also knows heads that got no review, such as
    // a push with nothing new); a head only the markers know is appended, so when Redis lost
    // the later history the newest review on GitHub is where the next review starts.
    if (!heads.includes(record.head)) heads.push(record.head);
    for (const f of record.findings) {
      if (seen.has(key(f))) continue;
      seen.add(key(f));
      findings.push(f);
    }
  }
  return { heads: heads.slice(-500), findings: findings.slice(-2000) };
}

export function recordReview(state: ReviewMemoryState, record: ReviewRecord): ReviewMemoryState {
  return mergeMemory(state, [record]);
}

export function lastHead(state: ReviewMemoryState): string | undefined {
  return state.heads[state.heads.length - 1];
}
