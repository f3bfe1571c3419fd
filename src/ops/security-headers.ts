import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";

/**
 * Headers for pages that show run content (model output, command output: text an attacker can
 * shape). Script and style only with this response's nonce, nothing loaded from elsewhere, no
 * framing, no referrer (the URL holds a link token), no caching.
 */
export function newNonce(): string {
  return randomBytes(16).toString("base64");
}

export function pageHeaders(nonce: string): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  };
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers });
  res.end(`${text}\n`);
}
