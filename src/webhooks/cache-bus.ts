import type { Redis } from "ioredis";
import { TransientError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import type { PermissionScope } from "./permission-cache.js";

/**
 * The web processes' caches (permissions, repo configs) are per process, but an event that
 * invalidates them reaches one process only. This bus tells all of them, by Redis pub/sub: the
 * sender applies the change to its own cache through its subscription too.
 */
export interface IntakeCacheBus {
  /** Resolves once this process listens (so it hears its own and others' messages). */
  ready: Promise<void>;
  permissions(scope: PermissionScope): Promise<void>;
  config(repoId: number): Promise<void>;
  close(): Promise<void>;
}

type Message = { type: "permissions"; scope: PermissionScope } | { type: "config"; repoId: number };

export function cacheChannel(prefix: string): string {
  return `${prefix}:intake-caches`;
}

export function createIntakeCacheBus(options: {
  publisher: Redis;
  subscriber: Redis;
  prefix: string;
  log: Logger;
  onPermissions(scope: PermissionScope): void;
  onConfig(repoId: number): void;
}): IntakeCacheBus {
  const channel = cacheChannel(options.prefix);
  const onMessage = (ch: string, text: string) => {
    if (ch !== channel) return;
    try {
      const m = JSON.parse(text) as Message;
      if (m.type === "permissions" && Number.isInteger(m.scope?.installationId)) options.onPermissions(m.scope);
      else if (m.type === "config" && Number.isInteger(m.repoId)) options.onConfig(m.repoId);
    } catch {
      options.log.warn({ channel }, "unreadable cache message ignored");
    }
  };
  options.subscriber.on("message", onMessage);
  const ready = options.subscriber.subscribe(channel).then(
    () => undefined,
    (err: unknown) => options.log.error({ err }, "cache invalidation subscription failed: caches expire by TTL only"),
  );
  const publish = async (m: Message) => {
    // Applied here at once too: this process must not wait for its own message.
    if (m.type === "permissions") options.onPermissions(m.scope);
    else options.onConfig(m.repoId);
    try {
      await options.publisher.publish(channel, JSON.stringify(m));
    } catch (err) {
      throw new TransientError(`cache invalidation could not be published (${(err as Error).message})`, { cause: err });
    }
  };
  return {
    ready,
    permissions: (scope) => publish({ type: "permissions", scope }),
    config: (repoId) => publish({ type: "config", repoId }),
    async close() {
      options.subscriber.off("message", onMessage);
      await options.subscriber.unsubscribe(channel).catch(() => {});
    },
  };
}
