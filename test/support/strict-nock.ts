import { afterEach, beforeEach, expect } from "@jest/globals";
import nock from "nock";

/**
 * GitHub mocked with nock, strictly: no real network, and every mock a test sets up must be used
 * (an unused mock means the code skipped a step). Registers the hooks; `set` receives each
 * test's fresh scope.
 */
export function strictNock(api: string, set: (scope: nock.Scope) => void): void {
  let scope: nock.Scope;
  beforeEach(() => {
    nock.disableNetConnect();
    scope = nock(api);
    set(scope);
  });
  afterEach(() => {
    const pending = scope.pendingMocks();
    nock.cleanAll();
    nock.enableNetConnect();
    expect(pending).toEqual([]);
  });
}
