import { clipBody, findCommentByMarker } from "../github/comments.js";
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
        const { data } = await github.rest.issues.createComment({ ...repo, issue_number: issueNumber, body });
        commentId = data.id;
        await options.onCreated?.(data.id);
      } else {
        await github.rest.issues.updateComment({ ...repo, comment_id: commentId, body });
      }
    },
  };
}

/** A sink that writes nothing (scheduled jobs with nowhere to report). */
export const nullSink: CardSink = { write: async () => {} };

/**
 * Holds the card's state and writes it through a sink. Phase changes and the final state are
 * written at once; progress updates (agent steps) at most once per `progressIntervalMs`, so a
 * 100-step run edits the comment a handful of times, not 100.
 */
export class JobCard {
  #state: CardState;
  #lastWrite = 0;
  #lastBody = "";

  constructor(
    private readonly sink: CardSink,
    private readonly jobKey: string,
    initial: CardState,
    private readonly redact: Redact,
    private readonly progressIntervalMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {
    this.#state = initial;
  }

  get state(): CardState {
    return this.#state;
  }

  async update(change: (s: CardState) => CardState, options: { progress?: boolean } = {}): Promise<void> {
    this.#state = change(this.#state);
    if (options.progress && this.now() - this.#lastWrite < this.progressIntervalMs) return;
    await this.flush();
  }

  async flush(): Promise<void> {
    const body = clipBody(this.redact(renderCard(this.#state, this.jobKey)));
    if (body === this.#lastBody) return;
    await this.sink.write(body);
    this.#lastBody = body;
    this.#lastWrite = this.now();
  }
}
