import type { ModelGate, ModelSlot } from "../agent/model/gate.js";

/**
 * An in-process counting semaphore as a ModelGate: FIFO, abortable. Used where Redis is not
 * there to share a limit (Redis down, the CLI), so model calls still go on, within this
 * process's share.
 */
export class LocalSemaphore implements ModelGate {
  private inUse = 0;
  private readonly queue: Array<{ grant: () => void }> = [];

  constructor(private limit: number) {}

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.queue.length;
  }

  setLimit(limit: number): void {
    this.limit = Math.max(1, Math.floor(limit));
    this.drain();
  }

  acquire(signal?: AbortSignal): Promise<ModelSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<ModelSlot>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          this.inUse++;
          let released = false;
          resolve({
            release: () => {
              if (released) return;
              released = true;
              this.inUse--;
              this.drain();
            },
          });
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(entry);
      this.drain();
    });
  }

  private drain(): void {
    while (this.inUse < this.limit && this.queue.length > 0) this.queue.shift()!.grant();
  }
}
