import type { EmitterWebhookEvent, EmitterWebhookEventName } from "@octokit/webhooks";

/**
 * One verified, parsed webhook delivery, as the handlers see it: the delivery id
 * (`X-GitHub-Delivery`), the event name (`X-GitHub-Event`) and the payload, typed by event.
 * The intake (src/http/webhook-intake.ts) builds it after checking the signature; nothing else
 * comes with it (no client: handlers get theirs from HandlerDeps.repoClient).
 */
export interface Delivery<E extends EmitterWebhookEventName = EmitterWebhookEventName> {
  id: string;
  name: string;
  payload: EmitterWebhookEvent<E>["payload"];
}

/** What the intake hands the router: the payload is only known to be a JSON object. */
export interface RawDelivery {
  id: string;
  name: string;
  payload: Record<string, unknown>;
}
