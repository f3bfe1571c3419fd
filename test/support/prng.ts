/**
 * A small seeded PRNG (mulberry32) for fuzz tests: a failure names its seed and iteration, and
 * the same seed replays it exactly. The seed comes from FUZZ_SEED when set, else is fixed.
 */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chars = (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join("");
  /** Mostly printable text with the awkward characters parsers trip on. */
  const text = (max: number) =>
    chars(int(max), "abcdefghijklmnopqrstuvwxyz ABC/iquest\n\r\t:-#>`~{}[],\"'\\\u0000\u200b\u202e\u{e0041}é🙂&<>;=*.|!%$@");
  return { next, int, pick, chars, text };
}

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261129);
