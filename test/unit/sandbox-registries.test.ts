import { describe, expect, test } from "@jest/globals";
import { envSchema } from "../../src/config/env.js";
import { goproxyUrls, operatorRegistries, sandboxRegistryEnv } from "../../src/config/sandbox-registries.js";
import { egressRulesFor } from "../../src/workspace/egress-rules.js";

describe("the operator's registries and mirrors, for the sandbox", () => {
  const env = {
    NPM_REGISTRY: "https://npm.mirror.example/",
    UPGRADE_REGISTRIES: "https://npm.pkg.github.com/acme, https://registry.acme.example",
    PIP_INDEX_URL: "https://pypi.mirror.example/simple/",
    GOPROXY: "https://goproxy.mirror.example|https://proxy.golang.org,direct",
  };

  test("GOPROXY's list: both separators; `direct` and `off` are not hosts", () => {
    expect(goproxyUrls(env.GOPROXY)).toEqual(["https://goproxy.mirror.example", "https://proxy.golang.org"]);
    expect(goproxyUrls("off")).toEqual([]);
    expect(goproxyUrls(undefined)).toEqual([]);
  });

  test("every registry and mirror is allowed through the egress proxy", () => {
    const hosts = egressRulesFor("none-of-the-defaults.example", operatorRegistries(env)).map((r) => r.host);
    expect(hosts).toEqual(["none-of-the-defaults.example", "npm.mirror.example", "npm.pkg.github.com", "registry.acme.example", "pypi.mirror.example", "goproxy.mirror.example", "proxy.golang.org"]);
  });

  test("pip, go and corepack are pointed at the mirrors; unset ones are left to the tools' defaults", () => {
    expect(sandboxRegistryEnv(env)).toEqual({
      COREPACK_NPM_REGISTRY: "https://npm.mirror.example",
      PIP_INDEX_URL: "https://pypi.mirror.example/simple/",
      GOPROXY: "https://goproxy.mirror.example|https://proxy.golang.org,direct",
    });
    expect(sandboxRegistryEnv({ NPM_REGISTRY: "https://registry.npmjs.org/" })).toEqual({ COREPACK_NPM_REGISTRY: "https://registry.npmjs.org" });
  });

  test("PIP_INDEX_URL: empty is unset (compose passes `${PIP_INDEX_URL:-}`), a non-URL refuses the start", () => {
    expect(envSchema.parse({ PIP_INDEX_URL: "" }).PIP_INDEX_URL).toBeUndefined();
    expect(envSchema.parse({ PIP_INDEX_URL: "https://pypi.mirror.example/simple/" }).PIP_INDEX_URL).toBe("https://pypi.mirror.example/simple/");
    expect(() => envSchema.parse({ PIP_INDEX_URL: "pypi.mirror.example" })).toThrow(/url/i);
  });
});
