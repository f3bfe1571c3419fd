import { gunzipSync } from "node:zlib";

/**
 * Just enough of tar to read a few small files out of a package tarball (ustar and pax path
 * headers, as npm writes them). Nothing is written to disk and nothing is extracted: the caller
 * names the files it wants, and both the unpacked size and each file's size are capped. Pure.
 */
export interface TarLimits {
  /** Largest unpacked archive accepted (gunzip stops beyond it). */
  maxUnpackedBytes: number;
  /** Files larger than this are skipped. */
  maxFileBytes: number;
}

export function readTarGz(gz: Buffer, want: (path: string) => boolean, limits: TarLimits): Map<string, Buffer> {
  const tar = gunzipSync(gz, { maxOutputLength: limits.maxUnpackedBytes });
  return readTar(tar, want, limits.maxFileBytes);
}

export function readTar(tar: Buffer, want: (path: string) => boolean, maxFileBytes: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseOctal(header.subarray(124, 136));
    if (size === undefined) break;
    const type = String.fromCharCode(header[156]!);
    const name = cString(header.subarray(0, 100));
    const prefix = header.subarray(257, 263).toString("latin1").startsWith("ustar") ? cString(header.subarray(345, 500)) : "";
    const dataStart = offset + 512;
    const data = tar.subarray(dataStart, Math.min(dataStart + size, tar.length));
    if (type === "x") {
      paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString("utf8"))?.[1];
    } else {
      const path = paxPath ?? (prefix ? `${prefix}/${name}` : name);
      paxPath = undefined;
      if ((type === "0" || type === "\0") && size <= maxFileBytes && want(path)) out.set(path, Buffer.from(data));
    }
    offset = dataStart + Math.ceil(size / 512) * 512;
  }
  return out;
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString("utf8");
}

function parseOctal(buf: Buffer): number | undefined {
  const text = cString(buf).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}
