import { describe, expect, test } from "@jest/globals";
import { versionOfFile } from "../../src/deps/python/index-client.js";
import { comparePyVersions, isPyPrerelease, parsePyVersion, parseRequirements, setPin } from "../../src/deps/python/requirements.js";

const REQS = [
  "# app deps",
  "-r base.txt",
  "--index-url https://pypi.mirror.example/simple/",
  "Django==4.2.7  # LTS",
  "requests[socks]==2.31.0 ; python_version >= '3.8'",
  "urllib3>=1.26",
  "attrs",
  "cryptography==41.0.0 --hash=sha256:abc",
  "mylib @ https://example.com/mylib-1.0.tar.gz",
  "-e ./local",
  "",
].join("\n");

describe("requirements.txt", () => {
  test("exact pins (extras and markers kept), includes and the index; ranges, hashes and URLs reported", () => {
    const r = parseRequirements(REQS);
    expect(r.pins.map((p) => [p.name, p.normalized, p.version, p.line])).toEqual([
      ["Django", "django", "4.2.7", 3],
      ["requests", "requests", "2.31.0", 4],
    ]);
    expect(r.includes).toEqual(["base.txt"]);
    expect(r.indexUrl).toBe("https://pypi.mirror.example/simple/");
    expect(r.skipped).toEqual([
      { name: "urllib3", reason: "not an exact pin (`name==version`): the range is left to pip" },
      { name: "attrs", reason: "not an exact pin (`name==version`): the range is left to pip" },
      { name: "cryptography", reason: "hash-pinned (its hashes would need regenerating): not upgraded" },
      { name: "mylib", reason: "installed from a URL: not upgraded" },
    ]);
  });

  test("an edit moves one version, the rest of the line kept; a line that changed is refused", () => {
    const r = parseRequirements(REQS);
    const next = setPin(REQS, r.pins[1]!, "2.31.0", "2.32.3")!;
    expect(next.split("\n")[4]).toBe("requests[socks]==2.32.3 ; python_version >= '3.8'");
    expect(setPin(REQS, r.pins[0]!, "4.2.6", "4.2.8")).toBeUndefined();
  });
});

describe("PEP 440 versions, index file names", () => {
  test("ordering: dev < pre < release < post; prereleases known", () => {
    const order = ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.10"].map((v) => parsePyVersion(v)!);
    const shuffled = [...order].reverse().sort(comparePyVersions);
    expect(shuffled.map((v) => v.raw)).toEqual(["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.10"]);
    expect(isPyPrerelease(parsePyVersion("2.0rc1")!)).toBe(true);
    expect(isPyPrerelease(parsePyVersion("2.0.post1")!)).toBe(false);
    expect(parsePyVersion("not-a-version")).toBeUndefined();
  });

  test("a file's version: wheels (underscored names) and sdists; another project's file is not ours", () => {
    expect(versionOfFile("zope_interface-6.1-cp311-cp311-manylinux.whl", "zope-interface")).toBe("6.1");
    expect(versionOfFile("Django-4.2.7.tar.gz", "django")).toBe("4.2.7");
    expect(versionOfFile("django_extensions-3.2.3-py3-none-any.whl", "django")).toBeUndefined();
  });
});
