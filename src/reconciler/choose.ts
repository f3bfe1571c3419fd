/**
 * Which webhook deliveries to ask GitHub to send again. Pure.
 *
 * GitHub never retries a failed delivery on its own, and keeps them for redelivery 3 days. A
 * delivery (its GUID; redeliveries share it) is lost when no attempt got a 2xx: the app was
 * down, answered 5xx (Redis was down, so nothing was enqueued), or never answered. Redelivering
 * it is safe: the GUID is the job id, so a job that was in fact stored is not duplicated.
 */
export interface DeliveryAttempt {
  id: number;
  guid: string;
  deliveredAt: string;
  redelivery: boolean;
  statusCode: number;
  event: string;
}

export interface ChooseOptions {
  now: number;
  /** Older attempts are ignored (GitHub refuses redelivery after 3 days). */
  windowMs: number;
  /** Events the app subscribes to; others are never redelivered. */
  events: ReadonlySet<string>;
  /** At most this many per run, so a long outage drains over several runs. */
  max: number;
  /** GUIDs asked for recently (another worker, or an earlier run still in flight). */
  recentlyAsked: ReadonlySet<string>;
}

export function chooseRedeliveries(attempts: readonly DeliveryAttempt[], options: ChooseOptions): DeliveryAttempt[] {
  const byGuid = new Map<string, DeliveryAttempt[]>();
  for (const a of attempts) {
    if (options.now - Date.parse(a.deliveredAt) > options.windowMs) continue;
    if (!options.events.has(a.event)) continue;
    const list = byGuid.get(a.guid) ?? [];
    list.push(a);
    byGuid.set(a.guid, list);
  }
  const lost: DeliveryAttempt[] = [];
  for (const [guid, list] of byGuid) {
    if (options.recentlyAsked.has(guid)) continue;
    if (list.some((a) => a.statusCode >= 200 && a.statusCode < 300)) continue;
    // Redeliver the newest attempt (its payload is the same; its id is what the API takes).
    lost.push(list.reduce((a, b) => (Date.parse(b.deliveredAt) > Date.parse(a.deliveredAt) || b.id > a.id ? b : a)));
  }
  // Oldest first: they are closest to GitHub's 3-day limit.
  return lost.sort((a, b) => Date.parse(a.deliveredAt) - Date.parse(b.deliveredAt)).slice(0, options.max);
}
