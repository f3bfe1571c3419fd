import type { Env } from "./env.js";

/**
 * The registries and mirrors an operator configured (NPM_REGISTRY, UPGRADE_REGISTRIES,
 * PIP_INDEX_URL, GOPROXY, CARGO_INDEX_URL), as the two things the sandbox needs: the URLs its egress proxy lets
 * setup reach, and the environment that points each package manager at them.
 */
type RegistrySettings = Pick<Env, "NPM_REGISTRY"> & Partial<Pick<Env, "UPGRADE_REGISTRIES" | "PIP_INDEX_URL" | "GOPROXY" | "GOPRIVATE" | "GOSUMDB" | "GONOSUMDB" | "COREPACK_INTEGRITY_KEYS" | "CARGO_INDEX_URL">>;

/** GOPROXY's URLs: a list separated by `,` or `|`, where `direct` and `off` are not hosts. */
export const goproxyUrls = (value: string | undefined) =>
  (value ?? "").split(/[,|]/).map((p) => p.trim()).filter((p) => p && p !== "direct" && p !== "off");

/** Every registry URL setup may reach besides EGRESS_ALLOW. */
export function operatorRegistries(env: RegistrySettings): string[] {
  return [
    env.NPM_REGISTRY,
    ...(env.UPGRADE_REGISTRIES ?? "").split(",").map((r) => r.trim()).filter(Boolean),
    ...(env.PIP_INDEX_URL ? [env.PIP_INDEX_URL] : []),
    ...goproxyUrls(env.GOPROXY),
    // A crates.io mirror: the project's own .cargo/config.toml points cargo at it (cargo has no
    // environment variable for source replacement); its host is allowed like the others.
    ...(env.CARGO_INDEX_URL ? [env.CARGO_INDEX_URL.replace(/^sparse\+/, "")] : []),
  ];
}

/** The mirrors the sandbox's package managers use, under their own variable names. */
export function sandboxRegistryEnv(env: RegistrySettings): Record<string, string> {
  return {
    // corepack fetches pinned yarn and pnpm from the npm registry the operator configured (a
    // mirror, or the public one: also what EGRESS_ALLOW lets through), not from repo.yarnpkg.com.
    COREPACK_NPM_REGISTRY: env.NPM_REGISTRY.replace(/\/+$/, ""),
    ...(env.PIP_INDEX_URL ? { PIP_INDEX_URL: env.PIP_INDEX_URL } : {}),
    ...(env.GOPROXY ? { GOPROXY: env.GOPROXY } : {}),
    ...(env.GOPRIVATE ? { GOPRIVATE: env.GOPRIVATE } : {}),
    ...(env.GOSUMDB ? { GOSUMDB: env.GOSUMDB } : {}),
    ...(env.GONOSUMDB ? { GONOSUMDB: env.GONOSUMDB } : {}),
    ...(env.COREPACK_INTEGRITY_KEYS ? { COREPACK_INTEGRITY_KEYS: env.COREPACK_INTEGRITY_KEYS } : {}),
  };
}
