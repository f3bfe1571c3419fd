import { registerApps } from "./apps.js";
import { registerChecks } from "./checks.js";
import { registerIssues } from "./issues.js";
import { registerPulls } from "./pulls.js";
import { registerReactions } from "./reactions.js";
import { registerRepos } from "./repos.js";
import { registerReviews } from "./reviews.js";
import { Router } from "./router.js";
import { registerStatuses } from "./statuses.js";

/** Every REST route the simulator answers. Specific routes first: `{ref+}` routes are greedy. */
export function createRestRouter(): Router {
  const router = new Router();
  registerApps(router);
  registerChecks(router);
  registerStatuses(router);
  registerReactions(router);
  registerReviews(router);
  registerPulls(router);
  registerIssues(router);
  registerRepos(router);
  return router;
}
