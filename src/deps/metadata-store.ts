import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PackageMeta } from "./types.js";

/**
 * Registry metadata kept between runs: the reduced document (only what the upgrade reads, so a
 * 20 MB packument becomes a few KB) with its validators. A run first answers from its own memo
 * (one request per package per run at most); across runs a stored entry younger than the
 * freshness window is used as is, and an older one is revalidated (`If-None-Match`), which a
 * registry answers with a bodiless 304 when nothing changed.
 */
export interface StoredMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  /** When it was fetched or last revalidated (ms since epoch). */
  storedAt: number;
  meta: PackageMeta;
}

export interface MetadataStore {
  get(url: string): Promise<StoredMeta | undefined>;
  set(entry: StoredMeta): Promise<void>;
}

/** One JSON file per URL under `dir` (e.g. WORKSPACE_DIR/registry-cache); unreadable files count as absent. */
export function createDiskMetadataStore(dir: string): MetadataStore {
  const fileOf = (url: string) => join(dir, `${createHash("sha256").update(url).digest("hex").slice(0, 40)}.json`);
  let ready: Promise<unknown> | undefined;
  return {
    async get(url) {
      try {
        const entry = JSON.parse(await readFile(fileOf(url), "utf8")) as StoredMeta;
        return entry.url === url && entry.meta && Array.isArray(entry.meta.versions) ? entry : undefined;
      } catch {
        return undefined;
      }
    },
    async set(entry) {
      ready ??= mkdir(dir, { recursive: true, mode: 0o700 });
      await ready;
      const file = fileOf(entry.url);
      // Write then rename: a reader never sees half a file, and two writers leave one whole file.
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
      await rename(tmp, file);
    },
  };
}

export function createMemoryMetadataStore(): MetadataStore & { entries: Map<string, StoredMeta> } {
  const entries = new Map<string, StoredMeta>();
  return {
    entries,
    get: async (url) => entries.get(url),
    set: async (entry) => void entries.set(entry.url, entry),
  };
}
