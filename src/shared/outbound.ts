import { rootCertificates } from "node:tls";
import { Agent, Dispatcher, ProxyAgent, setGlobalDispatcher } from "undici";
import { proxyFor, type ProxySettings } from "./proxy.js";

/**
 * Every HTTP call the app makes with fetch (GitHub REST through Octokit, the model client, the
 * registries, vLLM's metrics) goes through one undici dispatcher, installed as the process's
 * global one by src/main: per request it picks the proxy (proxy.ts, curl's rules) or a direct
 * connection. Node 20's fetch reads no proxy variable at all, so without this nothing would
 * reach GitHub from behind a corporate proxy.
 *
 * Plain-HTTP targets go to an http:// proxy as absolute-URI requests (as curl does), HTTPS ones
 * through CONNECT. `ca` adds certificates to Node's own roots (an internal CA for GitHub
 * Enterprise or a TLS-inspecting proxy); NODE_EXTRA_CA_CERTS has Node do the same at startup, and
 * src/main passes that file here too so that a bad file is a clear startup error.
 */
export interface OutboundOptions {
  proxy: ProxySettings;
  /** Extra trusted CA certificates (PEM), added to Node's roots. */
  ca?: readonly string[];
  /** Connect timeout per connection (undici's default is 10 s). */
  connectTimeoutMs?: number;
}

export class OutboundDispatcher extends Dispatcher {
  private readonly direct: Agent;
  private readonly proxies = new Map<string, ProxyAgent>();
  private readonly tls: { ca?: string[] };

  constructor(private readonly options: OutboundOptions) {
    super();
    this.tls = options.ca?.length ? { ca: [...rootCertificates, ...options.ca] } : {};
    this.direct = new Agent({ connect: { ...this.tls, ...(options.connectTimeoutMs ? { timeout: options.connectTimeoutMs } : {}) } });
  }

  /** The proxy this origin's requests use (undefined: direct). */
  routeOf(origin: string | URL): URL | undefined {
    return proxyFor(origin, this.options.proxy);
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
    const proxy = opts.origin ? this.routeOf(String(opts.origin)) : undefined;
    return (proxy ? this.agentFor(proxy) : this.direct).dispatch(opts, handler);
  }

  private agentFor(proxy: URL): ProxyAgent {
    let agent = this.proxies.get(proxy.href);
    if (!agent) {
      agent = new ProxyAgent({
        uri: proxy.href,
        // curl's way for http:// targets: the request with its absolute URL, no tunnel.
        proxyTunnel: false,
        requestTls: this.tls,
        proxyTls: this.tls,
        ...(this.options.connectTimeoutMs ? { connect: { timeout: this.options.connectTimeoutMs } } : {}),
      });
      this.proxies.set(proxy.href, agent);
    }
    return agent;
  }

  override async close(): Promise<void> {
    await Promise.all([this.direct.close(), ...[...this.proxies.values()].map((a) => a.close())]);
  }

  override async destroy(): Promise<void> {
    await Promise.all([this.direct.destroy(), ...[...this.proxies.values()].map((a) => a.destroy())]);
  }
}

/**
 * Make the dispatcher the process's global one, which Node's built-in fetch (and so Octokit and
 * the openai client) uses. Called once by each entry point in src/main, before any request.
 */
export function installOutbound(options: OutboundOptions): OutboundDispatcher {
  const dispatcher = new OutboundDispatcher(options);
  setGlobalDispatcher(dispatcher);
  return dispatcher;
}

/** fetch through this dispatcher, for code (and tests) that holds one rather than the global. */
export function fetchVia(dispatcher: Dispatcher): typeof fetch {
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(input, { ...init, dispatcher } as RequestInit)) as typeof fetch;
}
