// The baseline for bench/webhooks.ts: a bare Probot app whose handler does nothing, served the
// same way as iquest-bot's web process (createNodeMiddleware in a plain http server).
import { createServer } from "node:http";
import { Probot, createNodeMiddleware } from "probot";

const probot = new Probot({
  appId: process.env.APP_ID,
  privateKey: process.env.PRIVATE_KEY,
  secret: process.env.WEBHOOK_SECRET,
  logLevel: "warn",
});
const middleware = await createNodeMiddleware(
  (app) => {
    app.on(["issues.labeled", "pull_request.opened", "issue_comment.created"], async () => {});
  },
  { probot, webhooksPath: "/api/github/webhooks" },
);
const server = createServer((req, res) => {
  if (req.url === "/healthz") return res.writeHead(200).end("ok");
  middleware(req, res, () => res.writeHead(404).end());
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
