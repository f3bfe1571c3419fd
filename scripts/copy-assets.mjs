// tsc compiles only .ts; prompts and other runtime text assets under src/ are copied beside the
// compiled files so `new URL("./prompts/x.md", import.meta.url)` works from dist/ as from src/.
import { cpSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const ASSET = /\.(md|txt|json|html|css|yml|yaml)$/;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (ASSET.test(name)) cpSync(path, join("dist", relative(".", path)));
  }
}
walk("src");
