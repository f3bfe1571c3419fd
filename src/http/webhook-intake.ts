import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../shared/log.js";
import type { RawDelivery } from "../webhooks/delivery.js";
import type { RouteResult } from "../webhooks/router.js";
import type { SummaryLog } from "./summary-log.js";

/** Why a request was refused before any handler ran (a Prometheus label and a log summary key). */
export type RejectionReason =
  | "method"
  | "content-type"
  | "headers"
  | "signature-missing"
  | "signature-invalid"
  | "too-large"
  | "busy"
  | "json"
  | "payload-shape"
  | "unavailable";

export interface WebhookIntakeOptions {
  secret: string;
  maxBodyBytes: number;
  /** Runs the handler of a verified, parsed delivery. */
  receive(delivery: RawDelivery): Promise<RouteResult>;
  /** One line per reason per interval (summary-log.ts), plus a counter per reason. */
  rejections: SummaryLog;
  countRejection(reason: RejectionReason): void;
  /** Where a request came from (client-address.ts). */
  clientAddress(req: IncomingMessage): string;
  log: Logger;
}

// GitHub's delivery ids are GUIDs; job ids are built from them (no ':' allowed by BullMQ).
const DELIVERY_ID = /^[A-Za-z0-9_-]{1,100}$/;
const EVENT_NAME = /^[a-z_]{1,64}$/;
const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

const STATUS: Record<RejectionReason, number> = {
  method: 405,
  "content-type": 415,
  headers: 400,
  "signature-missing": 401,
  "signature-invalid": 401,
  "too-large": 413,
  busy: 503,
  json: 400,
  "payload-shape": 400,
  unavailable: 503,
};

const MESSAGE: Record<RejectionReason, string> = {
  method: "webhooks are POSTed",
  "content-type": "content type must be application/json",
  headers: "X-GitHub-Event and X-GitHub-Delivery are required",
  "signature-missing": "X-Hub-Signature-256 is missing or malformed",
  "signature-invalid": "signature does not match",
  "too-large": "body is too large",
  busy: "too many webhook bytes in flight; retry later",
  json: "body is not a JSON object",
  "payload-shape": "payload does not match its event",
  unavailable: "the job could not be stored; retry later",
};

/** What the summary line of each reason tells an operator. */
export const REJECTION_HINTS: Partial<Record<RejectionReason, string>> = {
  "signature-invalid":
    "if these are GitHub's deliveries, WEBHOOK_SECRET differs from the webhook secret in the app's settings; otherwise someone is sending forged requests",
  "signature-missing": "requests without a signature are not from GitHub",
  unavailable: "Redis did not answer: deliveries get 503 and GitHub (or the reconciler) sends them again",
};

/**
 * The webhook door. Every check that can be made before reading the body is made first (method,
 * content type, headers, the signature header's shape, the declared length), then the body is
 * read with a cap, its HMAC-SHA256 compared in constant time on the raw bytes, and only then is
 * it parsed. A refused request costs one counter increment: it is never logged on its own, never
 * with its payload or a stack trace (see summary-log.ts), so a flood of forged requests cannot
 * fill the disk or drown the real errors.
 */
export function createWebhookIntake(options: WebhookIntakeOptions) {
  const maxInflight = options.maxBodyBytes * 4;
  let inflightBytes = 0;

  const reply = (res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const reject = (req: IncomingMessage, res: ServerResponse, reason: RejectionReason, detail?: string, headers: Record<string, string> = {}) => {
    options.countRejection(reason);
    options.rejections.note(reason, options.clientAddress(req), detail);
    reply(res, STATUS[reason], { error: MESSAGE[reason] }, headers);
  };

  const readBody = (req: IncomingMessage, res: ServerResponse, declared: number): Promise<Buffer | undefined> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      // Bytes held for this request: the declared length up front, more if the body runs past it.
      let reserved = declared;
      inflightBytes += reserved;
      const settle = (value: Buffer | undefined) => {
        if (done) return;
        done = true;
        inflightBytes -= reserved;
        resolve(value);
      };
      req.on("data", (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > reserved) {
          inflightBytes += size - reserved;
          reserved = size;
        }
        if (size > options.maxBodyBytes || inflightBytes > maxInflight) {
          reject(req, res, size > options.maxBodyBytes ? "too-large" : "busy", undefined, { connection: "close" });
          chunks.length = 0;
          req.destroy();
          return settle(undefined);
        }
        chunks.push(chunk);
      });
      req.on("end", () => settle(Buffer.concat(chunks, size)));
      req.on("error", () => settle(undefined));
      req.on("close", () => settle(undefined));
    });

  return async function handleWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") return reject(req, res, "method", undefined, { allow: "POST" });
    const type = String(req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") return reject(req, res, "content-type", undefined, { connection: "close" });
    const name = req.headers["x-github-event"];
    const id = req.headers["x-github-delivery"];
    if (typeof name !== "string" || !EVENT_NAME.test(name) || typeof id !== "string" || !DELIVERY_ID.test(id)) {
      return reject(req, res, "headers", undefined, { connection: "close" });
    }
    const signature = SIGNATURE.exec(String(req.headers["x-hub-signature-256"] ?? ""));
    if (!signature) return reject(req, res, "signature-missing", undefined, { connection: "close" });
    const declared = Number(req.headers["content-length"] ?? 0);
    if (!Number.isFinite(declared) || declared > options.maxBodyBytes) return reject(req, res, "too-large", undefined, { connection: "close" });
    if (inflightBytes + declared > maxInflight) return reject(req, res, "busy", undefined, { "retry-after": "5", connection: "close" });

    // The headers pass: now invite the body a client held back for (server.ts's checkContinue).
    if (/100-continue/i.test(String(req.headers.expect ?? ""))) res.writeContinue();
    const body = await readBody(req, res, Math.max(declared, 0));
    if (!body) return;
    const expected = createHmac("sha256", options.secret).update(body).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature[1]!, "hex"))) return reject(req, res, "signature-invalid");

    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      return reject(req, res, "json");
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return reject(req, res, "json");

    const result = await options.receive({ id, name, payload: payload as Record<string, unknown> });
    if (result.outcome === "malformed") return reject(req, res, "payload-shape", `${result.event}: ${errorLine(result.error)}`);
    if (result.outcome === "transient") return reject(req, res, "unavailable", `${result.event}: ${errorLine(result.error)}`);
    if (result.outcome === "error") {
      // A bug of ours, not the sender's: logged each time, with the stack, never the payload.
      options.log.error({ deliveryId: id, event: result.event, err: result.error }, "webhook handler failed");
      return reply(res, 500, { error: "internal error" });
    }
    reply(res, result.status, { ok: true, outcome: result.outcome });
  };
}

function errorLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 200);
}
