/**
 * Coalesce identical lookups that are in flight at the same moment: a burst of deliveries from
 * one user on one repo makes one permission request, not fifty. Nothing is cached after the
 * request settles, so every answer is still fetched after the event arrived (a "live" check);
 * a failure is shared by the waiters and then forgotten.
 */
export function singleFlight<A extends unknown[], R>(key: (...args: A) => string, run: (...args: A) => Promise<R>) {
  const inFlight = new Map<string, Promise<R>>();
  return (...args: A): Promise<R> => {
    const k = key(...args);
    const pending = inFlight.get(k);
    if (pending) return pending;
    const promise = run(...args).finally(() => inFlight.delete(k));
    inFlight.set(k, promise);
    return promise;
  };
}
