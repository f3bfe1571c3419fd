import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * HTTP Basic authentication for the operator pages (/admin/queues, private runs), with the
 * credentials from ADMIN_USERNAME and ADMIN_PASSWORD. Compared as SHA-256 digests with
 * timingSafeEqual, so neither the length nor the content leaks through timing. Basic sends the
 * password on every request: serve these pages over HTTPS only (docs/DEPLOY.md).
 */
export interface BasicCredentials {
  username: string;
  password: string;
}

export const ADMIN_REALM = "iquest-bot admin";

const digest = (s: string) => createHash("sha256").update(s).digest();

export function checkBasicAuth(header: string | undefined, credentials: BasicCredentials): boolean {
  if (!header) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), digest(credentials.username));
  const passOk = timingSafeEqual(digest(decoded.slice(colon + 1)), digest(credentials.password));
  return userOk && passOk;
}

/** 401 with a challenge, so a browser asks for the login. */
export function sendChallenge(res: ServerResponse, message = "authentication required"): void {
  if (res.headersSent) return;
  res.writeHead(401, {
    "content-type": "text/plain; charset=utf-8",
    "www-authenticate": `Basic realm="${ADMIN_REALM}", charset="UTF-8"`,
    "cache-control": "no-store",
  });
  res.end(`${message}\n`);
}

/**
 * A state-changing request must come from our own pages. Basic credentials are sent by the
 * browser on cross-site requests too, so without this check another site could make a logged-in
 * operator's browser retry or delete jobs (CSRF).
 */
export function isSameOrigin(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none") return false;
  const origin = req.headers.origin;
  if (typeof origin === "string" && origin !== "null") {
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }
  return origin !== "null";
}
