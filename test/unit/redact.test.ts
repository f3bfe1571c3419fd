import { describe, expect, test } from "@jest/globals";
import { createRedactor, redact, redactDeep } from "../../src/shared/redact.js";
import { testPrivateKey } from "../support/keys.js";

const longGhs = `ghs_${"A1b2C3d4".repeat(64)}`; // new-style long server token (~520 chars)

describe("redact (T15, test 23)", () => {
  test.each([
    ["classic ghs_", `token ghs_${"a".repeat(36)} here`],
    ["long ghs_", `x ${longGhs} y`],
    ["ghp_", `ghp_${"Z9".repeat(18)}`],
    ["gho_", `gho_${"k".repeat(36)}`],
    ["github_pat_", `github_pat_11ABCDEFG0${"x".repeat(70)}`],
    ["x-access-token URL", "https://x-access-token:s3cr3tvalue@github.com/o/r.git"],
    ["user:pass URL", "git clone https://bob:hunter2hunter2@git.example.com/r"],
    ["Authorization header", "Authorization: token abcdefghijklmnopqrstuvwxyz123"],
    ["bearer", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl"],
    ["OpenAI-style key", "MODEL_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx"],
    ["AWS key id", "AKIAIOSFODNN7EXAMPLE"],
    ["generic api_key", "api_key: 9f8e7d6c5b4a39281706f5e4"],
    ["password assignment", 'password="Tr0ub4dor&3xyzw12345"'],
  ])("%s", (_name, input) => {
    const out = redact(input);
    expect(out).toContain("[REDACTED]");
    expect(out).not.toMatch(/ghs_A|ghp_Z|gho_k|github_pat_11|s3cr3tvalue|hunter2|abcdefghijklmnopqrstuvwxyz123|AKIAIOSFODNN7|9f8e7d6c|Tr0ub4dor|eyJpc3Mi|sk-proj/);
  });

  test("PEM private keys", () => {
    const pem = testPrivateKey();
    const out = redact(`key:\n${pem}\nend`);
    expect(out).not.toContain("BEGIN RSA PRIVATE KEY");
    expect(out).not.toContain(pem.split("\n")[1]);
    expect(out).toContain("end");
  });

  test("exact known secrets of any shape", () => {
    const r = createRedactor(["webhook-secret-xyz", "short", undefined]);
    expect(r("sig over webhook-secret-xyz!")).toBe("sig over [REDACTED]!");
    expect(r("a short word")).toBe("a short word");
  });

  test("ordinary text and code are left alone", () => {
    const code = "const apiKey = getKey();\nif (token) return secret.length;\nSee https://github.com/o/r/pull/1";
    expect(redact(code)).toBe(code);
  });

  test("redactDeep reaches nested strings", () => {
    const out = redactDeep({ a: [`ghp_${"q".repeat(36)}`], b: { c: 1, d: "ok" } });
    expect(out).toEqual({ a: ["[REDACTED]"], b: { c: 1, d: "ok" } });
  });
});
