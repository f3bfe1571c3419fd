import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

/**
 * Package tarballs as npm makes them: a gzipped ustar archive with every file under `package/`
 * (or another top directory: a `.crate` is the same archive under `name-version/`).
 * Test-side only (the app reads tarballs, it never writes them).
 */
export function packTarball(files: Record<string, string | Buffer>, top = "package"): Buffer {
  const blocks: Buffer[] = [];
  for (const [path, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    blocks.push(header(`${top}/${path}`, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

function header(path: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf("/", 154);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, 8, "latin1");
  h.write("0000000\0", 108, 8, "latin1");
  h.write("0000000\0", 116, 8, "latin1");
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, 12, "latin1");
  h.write(`${Math.floor(Date.UTC(1985, 9, 26) / 1000).toString(8).padStart(11, "0")}\0`, 136, 12, "latin1");
  h.write("        ", 148, 8, "latin1");
  h.write("0", 156, 1, "latin1");
  h.write("ustar\0", 257, 6, "latin1");
  h.write("00", 263, 2, "latin1");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
  return h;
}

export function integrityOf(tarball: Buffer): { shasum: string; integrity: string } {
  return {
    shasum: createHash("sha1").update(tarball).digest("hex"),
    integrity: `sha512-${createHash("sha512").update(tarball).digest("base64")}`,
  };
}
