/**
 * The load bench's webhook sender, a process of its own so that its clock is not held up by the
 * GitHub simulator and the model server (which share bench/load's event loop and are busy
 * serving 20 jobs). Open loop: delivery i leaves at start + i / rate, whether or not earlier
 * ones have been answered, so a slow server cannot slow the sender down and hide its own
 * latency (coordinated omission).
 *
 *   node --import tsx bench/load-sender.ts <deliveries.json> <url> <rate per s> <out.json>
 *
 * It starts sending when a line arrives on stdin (so bench/load can start it before it lowers
 * its own priority, which children would inherit).
 *
 * deliveries.json: [{ headers, body }] already signed. out.json: one entry per delivery with
 * the scheduled and actual send offsets, the latency (send → full answer) and the status.
 */
import { readFileSync, writeFileSync } from "node:fs";

interface Delivery {
  headers: Record<string, string>;
  body: string;
}

const [file, url, rateText, out] = process.argv.slice(2);
if (!file || !url || !rateText || !out) throw new Error("usage: load-sender.ts <deliveries.json> <url> <rate> <out.json>");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
process.stdin.pause();
const deliveries = JSON.parse(readFileSync(file, "utf8")) as Delivery[];
const rate = Number(rateText);

const results: Array<{ i: number; scheduledMs: number; lateMs: number; latencyMs: number; status: number; error?: string }> = [];
const start = performance.now();
const inFlight: Promise<void>[] = [];
for (let i = 0; i < deliveries.length; i++) {
  const scheduledMs = (i * 1000) / rate;
  const wait = start + scheduledMs - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const d = deliveries[i]!;
  const sent = performance.now();
  inFlight.push(
    (async () => {
      try {
        // Node's global fetch pool has no per-origin connection limit: a slow answer never queues others.
        const res = await fetch(url, { method: "POST", headers: d.headers, body: d.body, signal: AbortSignal.timeout(10_000) });
        await res.text();
        results.push({ i, scheduledMs, lateMs: sent - start - scheduledMs, latencyMs: performance.now() - sent, status: res.status });
      } catch (err) {
        results.push({ i, scheduledMs, lateMs: sent - start - scheduledMs, latencyMs: performance.now() - sent, status: 0, error: (err as Error).message });
      }
    })(),
  );
}
await Promise.all(inFlight);
writeFileSync(out, JSON.stringify(results.sort((a, b) => a.i - b.i)));
