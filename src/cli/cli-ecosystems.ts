import { goproxyUrls } from "../config/sandbox-registries.js";
import { enabledEcosystems, type Ecosystem } from "../deps/ecosystem.js";
import { createCargoEcosystem } from "../deps/cargo/cargo-ecosystem.js";
import { createSparseIndexClient } from "../deps/cargo/sparse-client.js";
import { createGoEcosystem } from "../deps/go/go-ecosystem.js";
import { createGoProxyClient } from "../deps/go/proxy.js";
import { createNpmEcosystem } from "../deps/npm/npm-ecosystem.js";
import { createNpmRegistryClient } from "../deps/npm/registry.js";
import { createPyIndexClient } from "../deps/python/index-client.js";
import { createPoetryEcosystem } from "../deps/python/poetry-ecosystem.js";
import { createPythonEcosystem } from "../deps/python/python-ecosystem.js";
import type { CliContext } from "./fix-command.js";

export const DEFAULT_GOPROXY = "https://proxy.golang.org";
export const DEFAULT_PYPI_INDEX = "https://pypi.org/simple/";

/**
 * The ecosystems `iquest-bot upgrade` reads, with the registries as the user's own tools would:
 * npm's from `.npmrc` (and --registry/NPM_REGISTRY), Go's from GOPROXY (its first URL) and
 * GOPRIVATE/GONOPROXY, Python's from the requirements file's --index-url, else PIP_INDEX_URL,
 * Rust's from `.cargo/config.toml` (and CARGO_REGISTRIES_<NAME>_INDEX), else index.crates.io. On the user's own machine every registry the repository names may be
 * contacted (the worker, unlike the CLI, reads only the ones its operator allows).
 */
export function cliEcosystems(ctx: CliContext, npmRegistry: string, switches: Readonly<Record<string, boolean>> = {}): { ecosystems: Ecosystem[]; requests(): number } {
  const isAllowed = (url: string) => /^https?:\/\//.test(url);
  const signal = ctx.signal ? { signal: ctx.signal } : {};
  const npm = createNpmRegistryClient({ isAllowed, ...signal });
  const go = createGoProxyClient({ isAllowed, ...signal });
  const py = createPyIndexClient({ isAllowed, ...signal });
  const crates = createSparseIndexClient({ isAllowed, ...signal });
  const proxy = goproxyUrls(ctx.registryEnv?.GOPROXY)[0] ?? DEFAULT_GOPROXY;
  const privatePatterns = [ctx.registryEnv?.GOPRIVATE, ctx.registryEnv?.GONOPROXY].filter(Boolean).join(",");
  return {
    ecosystems: enabledEcosystems([
      createNpmEcosystem({ defaultRegistry: npmRegistry, client: npm }),
      createGoEcosystem({ proxy, client: go, ...(privatePatterns ? { privatePatterns } : {}) }),
      createPythonEcosystem({ index: ctx.registryEnv?.PIP_INDEX_URL ?? DEFAULT_PYPI_INDEX, client: py }),
      createPoetryEcosystem({ index: ctx.registryEnv?.PIP_INDEX_URL ?? DEFAULT_PYPI_INDEX, client: py }),
      createCargoEcosystem({ client: crates, env: ctx.registryEnv ?? {} }),
    ], switches),
    requests: () => npm.stats.requests + go.stats.requests + py.stats.requests + crates.stats.requests,
  };
}
