/**
 * Where a Rust project's crates come from, as cargo reads it: `.cargo/config.toml` (or the older
 * `.cargo/config`) source replacement of crates.io (`[source.crates-io] replace-with = "x"` and
 * `[source.x] registry = "sparse+…"`), alternative registries (`[registries.x] index = …`), and
 * the same given as environment (`CARGO_REGISTRIES_<NAME>_INDEX`). Only sparse indexes can be
 * read over HTTP; a git index is reported. Pure.
 */
export const CRATES_IO_INDEX = "https://index.crates.io/";
/** Where crates.io's config.json sends `.crate` downloads (read for changelogs). */
export const CRATES_IO_DOWNLOADS = "https://static.crates.io/crates/";

export interface CargoRegistries {
  /**
   * The index for crates.io dependencies (after source replacement), without `sparse+`; undefined
   * when crates.io is replaced by something that cannot be read (a git index, vendored crates):
   * then nothing is checked rather than versions from a source the project does not use.
   */
  default: string | undefined;
  /** Named registries → index URL (without `sparse+`). */
  named: Record<string, string>;
  problems: string[];
}

function sections(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let table = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const header = /^\[\s*([^\[\]]+?)\s*\]/.exec(line);
    if (header) {
      table = header[1]!.replace(/\s*\.\s*/g, ".").replace(/"/g, "");
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|\{(.*)\})/.exec(line);
    if (!kv) continue;
    if (kv[4] !== undefined) {
      // `crates-io = { replace-with = "x" }` under [source]
      const fields: Record<string, string> = {};
      for (const m of kv[4].matchAll(/([A-Za-z0-9_-]+)\s*=\s*"([^"]*)"/g)) fields[m[1]!] = m[2]!;
      out.set(`${table}.${kv[1]}`, { ...out.get(`${table}.${kv[1]}`), ...fields });
      continue;
    }
    out.set(table, { ...out.get(table), [kv[1]!]: (kv[2] ?? kv[3])! });
  }
  return out;
}

function sparseUrl(where: string, value: string, problems: string[]): string | undefined {
  if (!value.startsWith("sparse+")) {
    problems.push(`${where}: \`${value}\` is a git index; only sparse registries (\`sparse+https://…\`) can be read, so its crates were not checked`);
    return undefined;
  }
  const url = value.slice("sparse+".length);
  if (!/^https?:\/\//.test(url)) {
    problems.push(`${where}: \`${value}\` is not an http(s) URL; it was ignored`);
    return undefined;
  }
  return url.endsWith("/") ? url : `${url}/`;
}

export function cargoRegistries(configText: string | undefined, env: Readonly<Record<string, string | undefined>> = {}, fallback = CRATES_IO_INDEX): CargoRegistries {
  const out: CargoRegistries = { default: fallback, named: {}, problems: [] };
  const s = sections(configText ?? "");
  for (const [table, fields] of s) {
    const reg = /^registries\.(.+)$/.exec(table);
    if (reg && fields.index) {
      const url = sparseUrl(`\`.cargo/config.toml\` [registries.${reg[1]}]`, fields.index, out.problems);
      if (url) out.named[reg[1]!] = url;
    }
  }
  for (const [k, v] of Object.entries(env)) {
    const m = /^CARGO_REGISTRIES_(.+)_INDEX$/.exec(k);
    if (!m || !v) continue;
    const url = sparseUrl(k, v, out.problems);
    if (url) out.named[m[1]!.toLowerCase().replace(/_/g, "-")] = url;
  }
  const replaceWith = s.get("source.crates-io")?.["replace-with"];
  if (replaceWith) {
    const target = s.get(`source.${replaceWith}`);
    const value = target?.registry ?? (target ? undefined : s.get(`registries.${replaceWith}`)?.index);
    if (value) {
      out.default = sparseUrl(`\`.cargo/config.toml\` [source.${replaceWith}]`, value, out.problems);
    } else if (target?.directory || target?.["local-registry"]) {
      out.default = undefined;
      out.problems.push(`\`.cargo/config.toml\`: crates.io is replaced by the vendored source \`${replaceWith}\`; vendored crates are not upgraded`);
    } else {
      out.problems.push(`\`.cargo/config.toml\`: crates.io is replaced by \`${replaceWith}\`, which names no registry; crates.io was used`);
    }
  }
  return out;
}
