import { generateKeyPairSync } from "node:crypto";

let cached: string | undefined;

/** A fresh RSA key for the test GitHub App, made at run time (never committed). */
export function testPrivateKey(): string {
  cached ??= generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  }).privateKey;
  return cached;
}
