import type { GitHub } from "../github/types.js";
import type { Logger } from "../shared/log.js";
import { chooseRedeliveries, type DeliveryAttempt } from "./choose.js";

/**
 * The reconciler's I/O: page through the app's recent webhook deliveries (app JWT), and ask
 * GitHub to redeliver the lost ones. Runs at start-up and then periodically (see loop.ts).
 */
export const SUBSCRIBED_EVENTS = new Set([
  "issues",
  "issue_comment",
  "pull_request",
  "pull_request_review",
  "pull_request_review_comment",
  "installation",
  "installation_repositories",
  "check_run",
  "push",
]);

export interface ReconcileDeps {
  /** A client authenticated as the app (JWT). */
  appClient: GitHub;
  /** Remember GUIDs asked for, with a TTL; returns the ones asked for recently. */
  asked: { recent(): Promise<Set<string>>; add(guids: string[]): Promise<void> };
  log: Logger;
  now?: () => number;
}

export interface ReconcileResult {
  scanned: number;
  redelivered: string[];
  failed: Array<{ guid: string; error: string }>;
}

const WINDOW_MS = 3 * 24 * 3600_000 - 3600_000; // a little inside GitHub's 3 days
const MAX_PAGES = 50;

export async function reconcileDeliveries(deps: ReconcileDeps, options: { max?: number } = {}): Promise<ReconcileResult> {
  const now = deps.now?.() ?? Date.now();
  const attempts: DeliveryAttempt[] = [];
  let pages = 0;
  // Newest first; stop paging once past the window.
  for await (const page of deps.appClient.paginate.iterator("GET /app/hook/deliveries", { per_page: 100 })) {
    const items = page.data as Array<{ id: number; guid: string; delivered_at: string; redelivery: boolean; status_code: number; event: string }>;
    for (const d of items) {
      attempts.push({ id: d.id, guid: d.guid, deliveredAt: d.delivered_at, redelivery: d.redelivery, statusCode: d.status_code, event: d.event });
    }
    const oldest = items.at(-1);
    if (++pages >= MAX_PAGES || !oldest || now - Date.parse(oldest.delivered_at) > WINDOW_MS) break;
  }
  const chosen = chooseRedeliveries(attempts, {
    now,
    windowMs: WINDOW_MS,
    events: SUBSCRIBED_EVENTS,
    max: options.max ?? 50,
    recentlyAsked: await deps.asked.recent(),
  });
  const result: ReconcileResult = { scanned: attempts.length, redelivered: [], failed: [] };
  for (const d of chosen) {
    try {
      await deps.appClient.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: d.id });
      result.redelivered.push(d.guid);
    } catch (err) {
      result.failed.push({ guid: d.guid, error: (err as Error).message });
    }
  }
  await deps.asked.add(result.redelivered);
  if (result.redelivered.length || result.failed.length) {
    deps.log.info({ scanned: result.scanned, redelivered: result.redelivered, failed: result.failed }, "reconciler asked GitHub to redeliver lost webhooks");
  }
  return result;
}
