import { TransientError } from "./errors.js";

/**
 * Race a promise against a deadline. Past it the caller gets a TransientError (retry later)
 * naming what timed out; the promise itself keeps running (it cannot be cancelled), so callers
 * use this only for operations that are safe to finish late (idempotent Redis writes, reads).
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransientError(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
