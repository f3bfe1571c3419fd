import { lookup } from "node:dns/promises";
import { egressRulesFor, isPublicAddress, type EgressRule } from "../../src/workspace/egress-rules.js";

/**
 * The egress rules for tests that install from the real npm registry: the defaults, plus the
 * registries a test serves itself. On this machine the npm registry's name resolves to an address
 * in a documentation range (203.0.113.0/24: the machine's mirror), which the proxy refuses as not
 * public, so that one name is allowed as `private:` (what an operator with an internal mirror
 * writes); where it resolves publicly, nothing is added.
 */
export async function npmRegistryRules(registryUrls: readonly string[] = []): Promise<EgressRule[]> {
  return egressRulesFor(await npmEgressAllow(), registryUrls);
}

/** The same as an `EGRESS_ALLOW` value (for the CLI): undefined (the defaults) where the registry resolves publicly. */
export async function npmEgressAllow(): Promise<string | undefined> {
  const addresses = (await lookup("registry.npmjs.org", { all: true })).map((a) => a.address);
  return addresses.some((a) => !isPublicAddress(a)) ? "private:registry.npmjs.org" : undefined;
}
