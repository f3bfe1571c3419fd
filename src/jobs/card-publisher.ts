import { clipBody, createCommentOnce, findCommentByMarker } from "../github/comments.js";
import type { GitHub, RepoName } from "../github/types.js";
import type { Redact } from "../shared/redact.js";
import { cardMarker, renderCard, type CardState } from "./job-card.js";

/** Where a card is written. The GitHub sink edits one comment; tests and the CLI can record. */
export interface CardSink {
  write(body: string): Promise<void>;
}

/**
 * The card's comment on an issue or PR. It finds its own earlier comment by the hidden marker
 * before creating one, so a job re-run after a crash keeps a single card.
 */
export function createCommentSink(
  github: GitHub,
  repo: RepoName,
  issueNumber: number,
  jobKey: string,
  options: { commentId?: number; onCreated?: (id: number) => Promise<void> | void } = {},
): CardSink {
  let commentId = options.commentId;
  return {
    async write(body) {
      if (commentId === undefined) {
        const existing = await findCommentByMarker(github, repo, issueNumber, cardMarker(jobKey));
        if (existing) commentId = existing.id;
      }
      if (commentId === undefined) {
        // A 5xx can come after GitHub made the comment: look it up before creating it again.
        const created = await createCommentOnce(github, repo, issueNumber, body, cardMarker(jobKey));
        commentId = created.id;
        await options.onCreated?.(created.id);
      } else {
        await github.rest.issues.updateComment({ ...repo, comment_id: commentId, body });
      }
    },
  };
}

/** A sink that writes nothing (scheduled jobs with nowhere to report). */
export const nullSink: CardSink = { write: async () => {} };

/**
 * Holds the card's state and writes it through a sink, off the job's critical path.
 *
 * GitHub asks apps to space writes about a second apart per installation (Octokit's throttling
 * does), so a card edit can wait seconds for its turn. The job must not wait with it: `update`
 * changes the state and schedules a write; one write is in flight at a time and the next one
 * carries the latest state, so intermediate states coalesce. `flush` waits until what the card
 * says now is on GitHub: the job awaits it for the final state. Progress updates (agent steps)
 * are scheduled at most once per `progressIntervalMs`.
 */
export class JobCard {
  #state: CardState;
  #lastWrite = 0;
  #lastBody = "";
  #inFlight: Promise<void> | undefined;
  #dirty = false;
  #lastError: unknown;

  constructor(
    private readonly sink: CardSink,
    private readonly jobKey: string,
    initial: CardState,
    private readonly redact: Redact,
    private readonly progressIntervalMs = 15_000,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.#state = initial;
  }

  get state(): CardState {
    return this.#state;
  }

  /** Change the state and schedule a write; resolves at once (see flush). */
  async update(change: (s: CardState) => CardState, options: { progress?: boolean } = {}): Promise<void> {
    this.#state = change(this.#state);
    if (options.progress && this.now() - this.#lastWrite < this.progressIntervalMs) return;
    this.#schedule();
  }

  /** Wait until the card on GitHub shows the current state. Throws if the last write failed. */
  async flush(): Promise<void> {
    this.#schedule();
    while (this.#inFlight) await this.#inFlight;
    if (this.#body() !== this.#lastBody) {
      const err = this.#lastError ?? new Error("the job card could not be written");
      this.#lastError = undefined;
      throw err;
    }
  }

  #body(): string {
    return clipBody(this.redact(renderCard(this.#state, this.jobKey)));
  }

  #schedule(): void {
    if (this.#inFlight) {
      this.#dirty = true;
      return;
    }
    const body = this.#body();
    if (body === this.#lastBody) return;
    this.#dirty = false;
    this.#lastWrite = this.now();
    this.#inFlight = this.sink
      .write(body)
      .then(
        () => {
          this.#lastBody = body;
          this.#lastError = undefined;
        },
        (err: unknown) => {
          // Kept for flush(); a later write carries the latest state anyway.
          this.#lastError = err;
          this.onError(err);
        },
      )
      .finally(() => {
        this.#inFlight = undefined;
        if (this.#dirty && this.#lastError === undefined) this.#schedule();
      });
  }
}
