/**
 * An answer in GitHub's error shape: `{ message, errors?, documentation_url, status }`. Octokit
 * builds its RequestError message from `message` (and the throttling plugin reads it), so the
 * wording matters where the app or a plugin matches on it.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: { errors?: unknown[]; headers?: Record<string, string>; documentationUrl?: string } = {},
  ) {
    super(message);
    this.name = "HttpError";
  }

  get body(): Record<string, unknown> {
    return {
      message: this.message,
      ...(this.extra.errors ? { errors: this.extra.errors } : {}),
      documentation_url: this.extra.documentationUrl ?? "https://docs.github.com/rest",
      status: String(this.status),
    };
  }
}

export const notFound = () => new HttpError(404, "Not Found");
export const forbiddenForIntegration = () => new HttpError(403, "Resource not accessible by integration");
export const badCredentials = () => new HttpError(401, "Bad credentials");

/** GitHub's "Validation Failed" 422 with structured errors. */
export function validationFailed(...errors: Array<Record<string, unknown>>): HttpError {
  return new HttpError(422, "Validation Failed", { errors });
}

/** GitHub's 422 with plain string errors (the review endpoints answer this way). */
export function unprocessable(...errors: string[]): HttpError {
  return new HttpError(422, "Unprocessable Entity", { errors });
}
