import { IquestError } from "../shared/errors.js";

/**
 * A registry lookup that failed. The kind decides the wording on the card and the dashboard, and
 * whether trying again later can help. The message never carries the response body: a registry
 * URL comes from the repository, so its answer is not ours to repeat.
 */
export type RegistryErrorKind = "not-found" | "unreachable" | "http" | "auth" | "invalid" | "not-allowed" | "too-large";

export class RegistryError extends IquestError {
  constructor(
    readonly kind: RegistryErrorKind,
    readonly packageName: string,
    readonly registry: string,
    detail: string,
    readonly status?: number,
  ) {
    super(kind === "unreachable" || (kind === "http" && (status ?? 0) >= 500) ? "retry" : "tell-user", `${packageName} (${registry}): ${detail}`, {
      userMessage: describe(kind, packageName, registry, detail, status),
    });
  }
}

function describe(kind: RegistryErrorKind, name: string, registry: string, detail: string, status?: number): string {
  switch (kind) {
    case "not-found":
      return `\`${name}\` is not in the registry ${registry} (404): it was unpublished, renamed or is private`;
    case "unreachable":
      return `the registry ${registry} could not be reached for \`${name}\` (${detail})`;
    case "http":
      return `the registry ${registry} answered ${status} for \`${name}\``;
    case "auth":
      return `the registry ${registry} wants credentials for \`${name}\` (${status}); iquest-bot has none to give`;
    case "invalid":
      return `the registry ${registry} sent unreadable metadata for \`${name}\` (${detail})`;
    case "not-allowed":
      return `the registry ${registry} (for \`${name}\`) is not one this bot may contact; the operator can allow it with UPGRADE_REGISTRIES`;
    case "too-large":
      return `the registry's metadata for \`${name}\` is too large (${detail})`;
  }
}

/**
 * Lookup failures, grouped so that one unreachable registry is one problem line naming the
 * packages it cost (a 404 stays per package: it says something about that package).
 */
export class RegistryFailures {
  readonly #groups = new Map<string, { error: RegistryError; names: Set<string> }>();

  add(error: RegistryError, name: string): void {
    const key = `${error.kind}\0${error.registry}\0${error.status ?? ""}\0${error.kind === "not-found" ? name : ""}`;
    const entry = this.#groups.get(key) ?? { error, names: new Set<string>() };
    entry.names.add(name);
    this.#groups.set(key, entry);
  }

  /** One problem per group; `noun` names what was not checked ("packages", "crates"). */
  problems(noun = "packages"): Array<{ kind: "registry"; name?: string; message: string }> {
    return [...this.#groups.values()].map(({ error, names }) => {
      const list = [...names];
      if (list.length === 1) return { kind: "registry" as const, name: list[0]!, message: capitalize(error.userMessage) };
      const shown = list.slice(0, 8).map((n) => `\`${n}\``).join(", ");
      const more = list.length > 8 ? `, and ${list.length - 8} more` : "";
      const first = capitalize(error.userMessage.replace(/ for `[^`]+`/, "").replace(/ \(for `[^`]+`\)/, ""));
      return { kind: "registry" as const, message: `${first}: ${list.length} ${noun} were not checked (${shown}${more})` };
    });
  }
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
