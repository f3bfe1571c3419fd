/**
 * Is a model endpoint up and serving the model we expect? `GET {baseUrl}/models` must answer
 * and list the model id. Used at start-up and by /healthz?deep=1, per model profile, so an
 * operator sees "profile instruct: http://gpu-b:8000/v1 does not serve IQuest…-Instruct" rather
 * than a job failing an hour later.
 */
export interface EndpointHealth {
  baseUrl: string;
  ok: boolean;
  detail: string;
  /** max_model_len, when the server reports it. */
  maxModelLen?: number;
}

export async function checkModelEndpoint(
  baseUrl: string,
  model: string,
  options: { apiKey?: string; timeoutMs?: number } = {},
): Promise<EndpointHealth> {
  const url = `${baseUrl.replace(/\/+$/, "")}/models`;
  try {
    const res = await fetch(url, {
      headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
    });
    if (!res.ok) return { baseUrl, ok: false, detail: `GET ${url} answered HTTP ${res.status}` };
    const body = (await res.json()) as { data?: Array<{ id?: string; max_model_len?: number }> };
    const entry = body.data?.find((m) => m.id === model);
    if (!entry) {
      const served = (body.data ?? []).map((m) => m.id).filter(Boolean).join(", ") || "nothing";
      return { baseUrl, ok: false, detail: `${baseUrl} does not serve "${model}" (it serves: ${served})` };
    }
    return {
      baseUrl,
      ok: true,
      detail: "ok",
      ...(typeof entry.max_model_len === "number" ? { maxModelLen: entry.max_model_len } : {}),
    };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string }; message?: string };
    const why = e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.message ?? String(err));
    return { baseUrl, ok: false, detail: `GET ${url} failed: ${why}` };
  }
}
