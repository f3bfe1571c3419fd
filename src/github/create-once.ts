/** How long `createOnce` waits before each retry (ms): two retries, as Octokit's 1 s and 4 s. */
export const CREATE_ONCE_WAITS_MS = [1000, 4000];

/** Octokit request options that turn its retry plugin off for one call. */
export const NO_BLIND_RETRY = { retries: 0 } as const;

/**
 * Create something on GitHub at most once. Octokit's retry plugin re-sends a POST that failed
 * with a 5xx or a dropped connection, but GitHub may have made the thing before the answer was
 * lost, and the re-send makes a second one (a second card, review, or a check run left in
 * progress for ever). So `create` must pass `request: NO_BLIND_RETRY`, and after such a failure
 * `find` looks for what the lost call made before trying again. Rate limits are still waited
 * out by the throttling plugin: GitHub answers them before doing anything. A 4xx is thrown at
 * once (nothing was made, and trying again will not help).
 */
export async function createOnce<T>(
  create: () => Promise<T>,
  find: () => Promise<T | undefined>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await create();
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      const mayHaveLanded = typeof status !== "number" || status >= 500;
      if (!mayHaveLanded || attempt >= CREATE_ONCE_WAITS_MS.length) throw err;
      await sleep(CREATE_ONCE_WAITS_MS[attempt]!);
      const found = await find();
      if (found !== undefined) return found;
    }
  }
}
