import type { IncomingMessage } from "node:http";

/**
 * The address a request came from, for rate limits and log summaries. Behind a reverse proxy
 * (an ingress, a load balancer) every request comes from the proxy, so with `trustedHops` > 0
 * the address is taken from X-Forwarded-For: the entry that many hops from the right, which is
 * the one the nearest trusted proxy saw. Entries further left are the client's own claims and
 * never trusted. With no trusted hops the header is ignored (anyone can send it).
 */
export function clientAddress(req: IncomingMessage, trustedHops = 0): string {
  const socket = req.socket?.remoteAddress ?? "unknown";
  if (trustedHops <= 0) return socket;
  const header = req.headers["x-forwarded-for"];
  const list = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((s) => s.trim()).filter(Boolean);
  return list[list.length - trustedHops] ?? list[0] ?? socket;
}
