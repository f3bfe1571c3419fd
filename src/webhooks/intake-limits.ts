import type { Redis } from "ioredis";
import type { Limit } from "../rules/limits.js";
import { TransientError } from "../shared/errors.js";

export type Admission =
  | { ok: true }
  | {
      ok: false;
      scope: "sender" | "installation";
      limit: Limit;
      /**
       * This request is the first one over the limit in its window that has a place to answer
       * (`canReply`): the one that gets the polite reply.
       */
      firstOver: boolean;
      /** When the window ends. */
      resetInSeconds: number;
    };

export interface IntakeLimiter {
  /**
   * Count one request for work (a job or a reply) and say whether it may go ahead. `sender` is
   * the human who asked (absent for automatic work, such as a review of a pushed PR, which only
   * counts against the installation). A Redis failure is a TransientError (the delivery gets 503).
   */
  admit(request: { installationId: number; sender?: string; canReply?: boolean }): Promise<Admission>;
}

// Both counters in one round trip, atomically. The sender is counted first and, when over its
// limit, the installation is not charged: one user's flood must not use up everyone else's
// budget. Keys expire with their window (fixed windows from the first request). Over a limit,
// the first request of the window that has a place to answer (ARGV[6] = '1') claims the one
// reply (a key of its own, NX), so an automatic review that has nowhere to answer does not use
// it up.
const ADMIT_SCRIPT = `
local function over(counter, reply)
  local ttl = redis.call('TTL', counter)
  local first = 0
  if ARGV[6] == '1' and redis.call('SET', reply, '1', 'NX', 'EX', math.max(ttl, 1)) then first = 1 end
  return {ttl, first}
end
if ARGV[5] == '1' then
  local s = redis.call('INCR', KEYS[1])
  if s == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
  if s > tonumber(ARGV[1]) then
    local o = over(KEYS[1], KEYS[3])
    return {1, o[2], o[1]}
  end
end
if tonumber(ARGV[2]) > 0 then
  local i = redis.call('INCR', KEYS[2])
  if i == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4])) end
  if i > tonumber(ARGV[2]) then
    local o = over(KEYS[2], KEYS[4])
    return {2, o[2], o[1]}
  end
end
return {0, 0, 0}
`;

/**
 * Limits shared by every web process through Redis. Keys carry the installation as a hash tag,
 * so both counters of one request sit in one slot (Redis Cluster runs the script on one node).
 */
export function createRedisIntakeLimiter(redis: Redis, prefix: string, limits: { sender?: Limit; installation?: Limit }): IntakeLimiter | undefined {
  const { sender, installation } = limits;
  if (!sender && !installation) return undefined;
  const client = redis as Redis & { iquestAdmit?: (...args: Array<string | number>) => Promise<[number, number, number]> };
  if (!client.iquestAdmit) client.defineCommand("iquestAdmit", { numberOfKeys: 4, lua: ADMIT_SCRIPT });
  return {
    async admit(request) {
      const tag = `{${request.installationId}}`;
      const countSender = sender !== undefined && request.sender !== undefined;
      const senderKey = `${prefix}:intake:${tag}:sender:${(request.sender ?? "-").toLowerCase()}`;
      const installationKey = `${prefix}:intake:${tag}:installation`;
      let result: [number, number, number];
      try {
        result = await client.iquestAdmit!(
          senderKey,
          installationKey,
          `${senderKey}:replied`,
          `${installationKey}:replied`,
          sender?.count ?? 0,
          installation?.count ?? 0,
          sender?.windowSeconds ?? 1,
          installation?.windowSeconds ?? 1,
          countSender ? "1" : "0",
          request.canReply ? "1" : "0",
        );
      } catch (err) {
        throw new TransientError(`intake limits: Redis did not answer (${(err as Error).message})`, { cause: err });
      }
      const [which, first, ttl] = result;
      if (which === 0) return { ok: true };
      const limit = which === 1 ? sender! : installation!;
      return { ok: false, scope: which === 1 ? "sender" : "installation", limit, firstOver: first === 1, resetInSeconds: Math.max(ttl, 1) };
    },
  };
}
