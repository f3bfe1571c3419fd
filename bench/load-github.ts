/**
 * bench/load's GitHub for the web process: the three calls a webhook handler makes (installation
 * token, repo config, the live permission check), answered at once by bench/support.ts's fake,
 * in a process of its own. See bench/load.ts for why the web does not use the simulator here.
 * Prints `listening <host>` when ready.
 */
import { startFakeGitHub } from "./support.js";

const github = await startFakeGitHub();
console.log(`listening ${github.host}`);
process.on("SIGTERM", () => {
  console.log(`calls ${JSON.stringify(Object.fromEntries(github.calls))}`);
  void github.close().then(() => process.exit(0));
});
