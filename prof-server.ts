import { startGitHttpServer } from "./test/support/workspace-git-http.js";
const s = await startGitHttpServer("/tmp/iquest-bench/remotes", "tok");
console.log(s.baseUrl);
setInterval(() => {}, 1 << 30);
