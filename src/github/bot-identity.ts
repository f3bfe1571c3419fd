import type { GitHubApp } from "./app-client.js";
import type { GitHub } from "./types.js";

/**
 * The app's bot identity for commits: GitHub attributes a commit to the app's bot account when
 * the email is `<bot user id>+<slug>[bot]@users.noreply.<host>`. The id is looked up once per
 * worker (GET /app with the app JWT, then GET /users/<slug>[bot] with an installation token: the
 * JWT only reaches /app endpoints).
 */
export interface BotIdentity {
  name: string;
  email: string;
  login: string;
}

export async function resolveBotIdentity(app: GitHubApp, github: GitHub, noreplyHost: string): Promise<BotIdentity> {
  const { data: me } = await app.appClient().rest.apps.getAuthenticated();
  const slug = me?.slug ?? "iquest-bot";
  const login = `${slug}[bot]`;
  let id: number | undefined;
  try {
    id = (await github.rest.users.getByUsername({ username: login })).data.id;
  } catch {
    // Without the id GitHub still shows the name; the link to the bot account is lost, no more.
  }
  return { name: login, login, email: `${id ? `${id}+` : ""}${login}@users.noreply.${noreplyHost}` };
}
