import { describe, expect, test } from "@jest/globals";
import { loadEnv, secretsOf } from "../../src/config/env.js";
import { describeRedisTarget } from "../../src/shared/redis-target.js";

/** Where Redis is, from the environment: one node (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES), and the key prefix each needs. */
describe("REDIS_URL / REDIS_CLUSTER_NODES and QUEUE_PREFIX", () => {
  test("one node: the URL, prefix `iquest`; a hash-tagged prefix is allowed there too", () => {
    const env = loadEnv({ REDIS_URL: "redis://:pw@redis:6379" });
    expect(env.redis).toBe("redis://:pw@redis:6379");
    expect(env.QUEUE_PREFIX).toBe("iquest");
    expect(loadEnv({ REDIS_URL: "redis://r:6379", QUEUE_PREFIX: "{team-a}" }).QUEUE_PREFIX).toBe("{team-a}");
    expect(loadEnv({}).redis).toBeUndefined();
    expect(describeRedisTarget("redis://user:pw@redis:6379/0")).toBe("redis://user:***@redis:6379/0");
  });

  test("a cluster: its seed nodes with the credentials and TLS of every node, prefix `{iquest}` by default", () => {
    const env = loadEnv({ REDIS_CLUSTER_NODES: "10.0.0.1:7000, redis-1.svc:7001,[fd00::5]:7002", REDIS_PASSWORD: "s3cret", REDIS_USERNAME: "bot", REDIS_TLS: "true" });
    expect(env.redis).toEqual({
      cluster: {
        nodes: [{ host: "10.0.0.1", port: 7000 }, { host: "redis-1.svc", port: 7001 }, { host: "fd00::5", port: 7002 }],
        username: "bot",
        password: "s3cret",
        tls: true,
      },
    });
    expect(env.QUEUE_PREFIX).toBe("{iquest}");
    expect(secretsOf(env)).toContain("s3cret");
    expect(describeRedisTarget(env.redis!)).toBe("Redis Cluster (10.0.0.1:7000, redis-1.svc:7001, fd00::5:7002)");
  });

  test.each([
    [{ REDIS_CLUSTER_NODES: "a:1", QUEUE_PREFIX: "iquest" }, /QUEUE_PREFIX="iquest" on Redis Cluster must be a hash tag, e\.g\. \{iquest\}/],
    [{ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "redis://b:6379" }, /REDIS_URL and REDIS_CLUSTER_NODES are both set/],
    [{ REDIS_CLUSTER_NODES: "a" }, /REDIS_CLUSTER_NODES has "a", which is not host:port/],
    [{ REDIS_CLUSTER_NODES: "a:99999" }, /REDIS_CLUSTER_NODES has "a:99999", which is not host:port/],
    [{ REDIS_CLUSTER_NODES: " , " }, /REDIS_CLUSTER_NODES is empty/],
    [{ QUEUE_PREFIX: "{a}b" }, /QUEUE_PREFIX: letters, digits/],
    [{ QUEUE_PREFIX: "a:b" }, /QUEUE_PREFIX: letters, digits/],
    [{ REDIS_TLS: "yes" }, /REDIS_TLS/],
  ])("refused at start with the reason: %p", (vars, message) => {
    expect(() => loadEnv(vars)).toThrow(message);
  });
});
