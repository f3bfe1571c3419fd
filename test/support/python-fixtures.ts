import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildWheel, type PypiIndex } from "./pypi-index.js";

/**
 * Python projects for the upgrade tests: greeter's wheels on the test's index (1.0.0, 1.1.0, a
 * too-young 1.2.0, and 2.0.0 which renames greet() to hello()), and a Poetry project on greeter
 * ^1.0 locked at 1.0.0 by the real poetry.
 */
const run = promisify(execFile);
const DAY = 24 * 3600_000;

export async function publishGreeterWheels(index: PypiIndex, wheelsDir: string): Promise<void> {
  const greeter = (version: string, body: string, age: number) =>
    buildWheel(wheelsDir, { name: "greeter", version, files: { "greeter/__init__.py": body } }).then((w) => index.add(w, new Date(Date.now() - age * DAY)));
  await greeter("1.0.0", "def greet(name):\n    return 'Hello, ' + name + '!'\n", 90);
  await greeter("1.1.0", "def greet(name):\n    return 'Hello, ' + name.strip() + '!'\n", 40);
  await greeter("1.2.0", "def greet(name):\n    return 'Hello, ' + name.strip() + '!'\n", 1);
  await greeter("2.0.0", "def hello(name):\n    return 'Hello, ' + name.strip() + '!'\n", 20);
}

export const poetryManifest = (greeter: string, simple: string) =>
  `[tool.poetry]\nname = "app"\nversion = "0.1.0"\ndescription = ""\nauthors = ["t <t@example.com>"]\n\n[tool.poetry.dependencies]\npython = "^3.8"\n# the greeting\ngreeter = { version = "${greeter}" }\n\n[[tool.poetry.source]]\nname = "local"\nurl = "${simple}"\ndefault = true\n\n[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n`;

/**
 * A Poetry project on greeter ^1.0 in `dir` (app.py, a pytest test), poetry.lock made by the real
 * poetry at 1.0.0: exact first, then the constraint (`--no-update` keeps what is locked). Run
 * asynchronously: the index may answer from this very process.
 */
export async function writePoetryApp(dir: string, index: PypiIndex): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "py-poetry-home-"));
  try {
    writeFileSync(join(dir, "app.py"), "from greeter import greet\n\ndef welcome(name):\n    return greet(name)\n");
    writeFileSync(join(dir, "test_app.py"), "from app import welcome\n\ndef test_welcome():\n    assert welcome('Py') == 'Hello, Py!'\n");
    writeFileSync(join(dir, "pytest.ini"), "[pytest]\n");
    const env = { PATH: "/usr/bin:/bin", HOME: home, PYTHON_KEYRING_BACKEND: "keyring.backends.null.Keyring" };
    writeFileSync(join(dir, "pyproject.toml"), poetryManifest("1.0.0", index.simple));
    await run("poetry", ["lock", "--no-update"], { cwd: dir, env });
    writeFileSync(join(dir, "pyproject.toml"), poetryManifest("^1.0", index.simple));
    await run("poetry", ["lock", "--no-update"], { cwd: dir, env });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The agent's side of the greeter 2 repair in app.py. */
export const PY_GREETER_REPAIR = { from: "from greeter import greet", to: "from greeter import hello as greet", summary: "greeter 2.0.0 renamed greet() to hello(); app.py imports hello." };
