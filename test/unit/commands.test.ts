import { describe, expect, test } from "@jest/globals";
import { helpText, parseCommand, unknownCommandText } from "../../src/rules/commands.js";

describe("parseCommand", () => {
  test.each([
    ["/iquest fix", { kind: "fix", notes: "" }],
    ["/iquest fix please keep the API", { kind: "fix", notes: "please keep the API" }],
    ["/iquest FIX\nuse the new parser\nand add a test", { kind: "fix", notes: "use the new parser\nand add a test" }],
    ["  /iquest review  ", { kind: "review" }],
    ["/iquest upgrade", { kind: "upgrade" }],
    ["/iquest stop", { kind: "stop" }],
    ["/iquest cancel", { kind: "stop" }],
    ["/iquest help", { kind: "help" }],
    ["/iquest", { kind: "help" }],
    ["Thanks!\n\n/iquest review", { kind: "review" }],
    ["/iquest frobnicate the thing", { kind: "other", word: "frobnicate", text: "frobnicate the thing" }],
    ["/iquest please rename the helper\nand keep tests", { kind: "other", word: "please", text: "please rename the helper\nand keep tests" }],
    ["/iquest fix\r\nwindows notes", { kind: "fix", notes: "windows notes" }],
  ])("%j", (body, expected) => {
    expect(parseCommand(body)).toEqual(expected);
  });

  test.each([
    [""],
    [null],
    ["no command here"],
    ["/iquestfix"],
    ["please run /iquest fix"],
    ["> /iquest fix"],
    ["```\n/iquest fix\n```"],
    ["~~~\n/iquest fix\n~~~"],
    ["    /iquest fix"],
    ["/iq\u200buest fix"],
  ])("no command in %j", (body) => {
    expect(parseCommand(body as string)).toBeUndefined();
  });

  test("the first command line wins; a fenced example before it does not count", () => {
    expect(parseCommand("```\n/iquest stop\n```\n/iquest review\n/iquest fix")).toEqual({ kind: "review" });
  });

  test("notes are capped", () => {
    const cmd = parseCommand(`/iquest fix ${"x".repeat(10_000)}`);
    expect(cmd?.kind).toBe("fix");
    expect((cmd as { notes: string }).notes.length).toBe(4000);
  });
});

describe("help and unknown replies", () => {
  test("help lists every command and the label", () => {
    const text = helpText("needs-fix");
    for (const c of ["fix", "review", "upgrade", "stop", "help"]) expect(text).toContain(`/iquest ${c}`);
    expect(text).toContain("`needs-fix`");
  });
  test("unknown command reply names the word, sanitised", () => {
    const text = unknownCommandText("<img src=x>", "iquest:fix");
    expect(text).toContain("`/iquest imgsrcx`");
    expect(text).not.toContain("<img");
  });
});
