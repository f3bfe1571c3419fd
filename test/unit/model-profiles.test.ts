import { describe, expect, test } from "@jest/globals";
import { chooseProfile, loadModelProfiles } from "../../src/config/model-profiles.js";
import { StartupError } from "../../src/shared/errors.js";

const yaml = (text: string) => ({ path: "/etc/iquest/profiles.yaml", text });

describe("loadModelProfiles", () => {
  test("built-ins: thinking, instruct and loop with the published sampling; every use maps to thinking", () => {
    const p = loadModelProfiles({});
    expect([...p.profiles.keys()]).toEqual(["thinking", "instruct", "loop"]);
    expect(p.profiles.get("loop")).toMatchObject({
      model: "IQuestLab/IQuest-Coder-V1-40B-Loop-Instruct",
      sampling: { temperature: 0.6, top_p: 0.85, top_k: 20 },
      enableThinking: false,
      timeoutMs: 120_000,
    });
    expect(p.profiles.get("thinking")).toMatchObject({
      model: "IQuestLab/IQuest-Coder-V1-40B-Thinking",
      baseUrls: ["http://127.0.0.1:8000/v1"],
      enableThinking: true,
    });
    expect(p.profiles.get("instruct")).toMatchObject({
      model: "IQuestLab/IQuest-Coder-V1-40B-Instruct",
      sampling: { temperature: 0.6, top_p: 0.85, top_k: 20 },
      enableThinking: false,
    });
    expect(p.jobs).toEqual({ fix: "thinking", review: "thinking", upgrade: "thinking", condense: "thinking" });
  });

  test("MODEL_* env shapes the default profile; the URL list and key apply to every built-in", () => {
    const p = loadModelProfiles({
      MODEL_BASE_URL: "http://gpu-a:8000/v1, http://gpu-b:8000/v1/",
      MODEL_NAME: "my/model",
      MODEL_API_KEY: "k",
      MODEL_TOOL_PROTOCOL: "text",
      MODEL_TEMPERATURE: "1.0",
      MODEL_PROFILE_REVIEW: "instruct",
    });
    const thinking = p.profiles.get("thinking")!;
    expect(thinking.baseUrls).toEqual(["http://gpu-a:8000/v1", "http://gpu-b:8000/v1"]);
    expect(thinking.model).toBe("my/model");
    expect(thinking.protocol).toBe("text");
    expect(thinking.sampling.temperature).toBe(1);
    expect(thinking.sampling.top_k).toBe(20);
    expect(thinking.apiKeyEnv).toBe("MODEL_API_KEY");
    expect(p.profiles.get("instruct")!.baseUrls).toEqual(thinking.baseUrls);
    expect(p.profiles.get("instruct")!.model).toBe("IQuestLab/IQuest-Coder-V1-40B-Instruct");
    expect(p.jobs.review).toBe("instruct");
  });

  test("a profiles file adds and overrides profiles and maps job kinds", () => {
    const p = loadModelProfiles(
      {},
      yaml(`
profiles:
  loop:
    extends: instruct
    model: IQuestLab/IQuest-Coder-V1-40B-Loop-Instruct
    baseUrls: [http://loop:8000/v1]
    sampling: { max_tokens: 8192 }
  instruct:
    baseUrls: http://instruct-a/v1,http://instruct-b/v1
jobs:
  review: loop
  condense: instruct
`),
    );
    expect(p.profiles.get("loop")).toMatchObject({
      model: "IQuestLab/IQuest-Coder-V1-40B-Loop-Instruct",
      baseUrls: ["http://loop:8000/v1"],
      sampling: { temperature: 0.6, top_p: 0.85, top_k: 20, max_tokens: 8192 },
      enableThinking: false,
    });
    expect(p.profiles.get("instruct")!.baseUrls).toEqual(["http://instruct-a/v1", "http://instruct-b/v1"]);
    expect(p.jobs).toEqual({ fix: "thinking", review: "loop", upgrade: "thinking", condense: "instruct" });
  });

  test("JSON files work too", () => {
    const p = loadModelProfiles({}, { path: "p.json", text: JSON.stringify({ jobs: { fix: "instruct" } }) });
    expect(p.jobs.fix).toBe("instruct");
  });

  test.each([
    ["an unknown key", "profiles:\n  x:\n    modle: typo\n", /unknown: modle/],
    ["a missing URL (empty list)", "profiles:\n  x:\n    baseUrls: []\n", /baseUrls/],
    ["a URL that is not http", "profiles:\n  x:\n    baseUrls: [ftp://host/v1]\n", /baseUrls/],
    ["a bad sampling value", "profiles:\n  x:\n    sampling: { temperature: 7 }\n", /temperature/],
    ["a negative top_p", "profiles:\n  x:\n    sampling: { top_p: -1 }\n", /top_p/],
    ["extends an unknown profile", "profiles:\n  x:\n    extends: nope\n", /extends unknown profile "nope"/],
    ["a job mapped to an unknown profile", "jobs:\n  fix: gpt\n", /fix is mapped to unknown profile "gpt"/],
    ["an unknown job kind", "jobs:\n  deploy: thinking\n", /deploy/],
    ["unparseable YAML", "profiles: [\n", /cannot be parsed/],
  ])("%s → a start-up error naming it", (_name, text, message) => {
    expect(() => loadModelProfiles({}, yaml(text))).toThrow(StartupError);
    expect(() => loadModelProfiles({}, yaml(text))).toThrow(message);
  });

  test("bad MODEL_* env values are start-up errors", () => {
    expect(() => loadModelProfiles({ MODEL_TEMPERATURE: "hot" })).toThrow(/MODEL_TEMPERATURE/);
    expect(() => loadModelProfiles({ MODEL_TOOL_PROTOCOL: "xml" })).toThrow(/protocol/);
    expect(() => loadModelProfiles({ MODEL_PROFILE_FIX: "nope" })).toThrow(/fix is mapped to unknown profile/);
  });
});

describe("chooseProfile", () => {
  const profiles = loadModelProfiles({ MODEL_PROFILE_REVIEW: "instruct" });

  test("the operator's mapping by default", () => {
    expect(chooseProfile(profiles, "review").profile.name).toBe("instruct");
    expect(chooseProfile(profiles, "fix").profile.name).toBe("thinking");
  });

  test("a repo may pick another existing profile", () => {
    expect(chooseProfile(profiles, "review", "thinking")).toEqual({ profile: profiles.profiles.get("thinking") });
  });

  test("a repo naming an unknown profile gets the operator's choice and a clear message, never silence", () => {
    const choice = chooseProfile(profiles, "review", "gpt-9");
    expect(choice.profile.name).toBe("instruct");
    expect(choice.problem).toMatch(/"gpt-9", which this installation does not offer/);
  });
});
