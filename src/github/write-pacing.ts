import Bottleneck from "bottleneck";

/**
 * How the worker paces its GitHub writes per installation (Octokit's throttling plugin takes
 * these groups in place of its own).
 *
 * The plugin's default spaces every write 1 s apart and every notifying write (comments, PRs,
 * reviews) 3 s apart, always. A fix job makes about eight writes, so a job that takes two
 * seconds of real work spent six more waiting, on an installation that had been idle all day.
 * GitHub's limit is on volume: no more than 80 content-generating requests a minute (500 an
 * hour), made one at a time. A token bucket keeps that promise and lets an idle installation's
 * job go out at once: up to `burst` writes without spacing, then one per `everyMs`, so a
 * minute holds at most burst + 60 000 / everyMs writes (15 + 60 = 75 < 80). Writes stay serial
 * per installation (`maxConcurrent: 1`), as GitHub asks.
 *
 * `off` removes the spacing only: rate-limit answers (403 secondary, 429) are still waited out
 * by the plugin's handlers, which the caller keeps.
 */
export interface WriteBucket {
  burst: number;
  everyMs: number;
}

export const WRITE_BUCKETS: { write: WriteBucket; notifications: WriteBucket } = {
  write: { burst: 15, everyMs: 1000 },
  notifications: { burst: 6, everyMs: 3000 },
};

export type WritePacing = "burst" | "off";

export interface PacingGroups {
  write: Bottleneck.Group;
  notifications: Bottleneck.Group;
}

/** One set per app: the groups hand out one limiter per installation id (the Octokit's `id`). */
export function writePacingGroups(mode: WritePacing, buckets = WRITE_BUCKETS): PacingGroups {
  const group = (id: string, b: WriteBucket) =>
    new Bottleneck.Group({
      id,
      maxConcurrent: 1,
      ...(mode === "burst"
        ? { reservoir: b.burst, reservoirIncreaseAmount: 1, reservoirIncreaseInterval: b.everyMs, reservoirIncreaseMaximum: b.burst }
        : {}),
    });
  return { write: group("iquest-write", buckets.write), notifications: group("iquest-notifications", buckets.notifications) };
}
