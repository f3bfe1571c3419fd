import { createHmac, randomUUID } from "node:crypto";

/** Sign a body as GitHub does (X-Hub-Signature-256: sha256=HMAC-SHA256(secret, raw body)). */
export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export interface Delivery {
  event: string;
  payload: unknown;
  id?: string;
}

/** POST a signed delivery to a running server; returns the HTTP status and body. */
export async function postDelivery(
  url: string,
  secret: string,
  delivery: Delivery,
  overrides: { headers?: Record<string, string | undefined>; body?: string | Buffer } = {},
): Promise<{ status: number; body: string; ms: number }> {
  const body = overrides.body ?? JSON.stringify(delivery.payload);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-github-event": delivery.event,
    "x-github-delivery": delivery.id ?? randomUUID(),
    "x-hub-signature-256": sign(secret, body),
  };
  for (const [k, v] of Object.entries(overrides.headers ?? {})) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  const started = Date.now();
  const res = await fetch(url, { method: "POST", headers, body: typeof body === "string" ? body : new Uint8Array(body) });
  return { status: res.status, body: await res.text(), ms: Date.now() - started };
}
