#!/usr/bin/env node
// The `iquest-bot` command. Runs the compiled CLI: `npm run build` first when working from source.
import "../dist/src/main/cli.js";
