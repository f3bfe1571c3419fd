import { describe, expect, test } from "@jest/globals";
import { parseTextToolCalls, renderTextToolDocs } from "../../src/agent/model/text-protocol.js";
import { splitReasoning } from "../../src/agent/model/reasoning.js";

const ids = () => {
  let n = 0;
  return () => `t${++n}`;
};

describe("text tool protocol", () => {
  test("one call with multi-line parameters; exactly one newline trimmed at each end", () => {
    const content = [
      "I will fix the function.",
      "<function=str_replace_editor>",
      "<parameter=command>str_replace</parameter>",
      "<parameter=path>src/add.js</parameter>",
      "<parameter=old_str>",
      "  return a - b;",
      "</parameter>",
      "<parameter=new_str>",
      "  return a + b;",
      "",
      "</parameter>",
      "</function>",
    ].join("\n");
    const { calls, problem } = parseTextToolCalls(content, ids());
    expect(problem).toBeUndefined();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      id: "t1",
      name: "str_replace_editor",
      protocol: "text",
      args: { command: "str_replace", path: "src/add.js", old_str: "  return a - b;", new_str: "  return a + b;\n" },
    });
    expect(JSON.parse(calls[0].arguments)).toEqual(calls[0].args);
  });

  test("a missing </function> at the end is tolerated (servers stop on it)", () => {
    const { calls } = parseTextToolCalls("<function=execute_bash>\n<parameter=command>ls</parameter>\n", ids());
    expect(calls[0].args).toEqual({ command: "ls" });
  });

  test("a call with no parameters", () => {
    const { calls } = parseTextToolCalls("<function=submit>\n</function>", ids());
    expect(calls[0]).toMatchObject({ name: "submit", args: {} });
  });

  test("several calls are all returned (the loop refuses them)", () => {
    const { calls } = parseTextToolCalls(
      "<function=execute_bash><parameter=command>ls</parameter></function>\n<function=execute_bash><parameter=command>pwd</parameter></function>",
      ids(),
    );
    expect(calls.map((c) => c.args?.command)).toEqual(["ls", "pwd"]);
  });

  test.each([
    ["an unclosed parameter", "<function=execute_bash>\n<parameter=command>ls\n</function>", /not closed/],
    ["a parameter given twice", "<function=f><parameter=a>1</parameter><parameter=a>2</parameter></function>", /given twice/],
    ["a bad function name", "<function=rm -rf>\n</function>", /not a valid function name/],
  ])("%s is an error on the call", (_name, content, message) => {
    const { calls } = parseTextToolCalls(content, ids());
    expect(calls[0].error).toMatch(message);
    expect(calls[0].args).toBeUndefined();
  });

  test("parameters without a function are a problem, plain text is no call", () => {
    expect(parseTextToolCalls("<parameter=command>ls</parameter>", ids()).problem).toMatch(/without an opening <function=NAME>/);
    expect(parseTextToolCalls("I think I am done.", ids())).toEqual({ calls: [] });
  });

  test("tool docs render in the OpenHands function format", () => {
    const docs = renderTextToolDocs("FUNCS:\n{{functions}}", [
      {
        name: "str_replace_editor",
        description: "Edit files.",
        parameters: {
          type: "object",
          properties: {
            command: { type: "string", enum: ["view", "create"], description: "The command." },
            view_range: { type: "array", description: "Lines." },
          },
          required: ["command"],
        },
      },
      { name: "submit", description: "Finish.", parameters: { type: "object", properties: {} } },
    ]);
    expect(docs).toBe(
      [
        "FUNCS:",
        "---- BEGIN FUNCTION #1: str_replace_editor ----",
        "Description: Edit files.",
        "Parameters:",
        "  (1) command (string, required): The command. Allowed values: [`view`, `create`]",
        "  (2) view_range (array, optional): Lines.",
        "---- END FUNCTION #1 ----",
        "",
        "---- BEGIN FUNCTION #2: submit ----",
        "Description: Finish.",
        "No parameters are required for this function.",
        "---- END FUNCTION #2 ----",
      ].join("\n"),
    );
  });
});

describe("splitReasoning", () => {
  test("the `reasoning` field wins over `reasoning_content`", () => {
    expect(splitReasoning({ content: "answer", reasoning: "new", reasoning_content: "old" })).toEqual({
      content: "answer",
      reasoning: "new",
      unterminated: false,
    });
  });
  test("inline <think> block", () => {
    expect(splitReasoning({ content: "<think>\nhmm\n</think>\n\nanswer" })).toEqual({ content: "answer", reasoning: "hmm", unterminated: false });
  });
  test("only </think>: the template opened the block", () => {
    expect(splitReasoning({ content: "hmm\n</think>\nanswer" })).toEqual({ content: "answer", reasoning: "hmm", unterminated: false });
  });
  test("unclosed <think>: unterminated", () => {
    expect(splitReasoning({ content: "<think>\nstill thinking" })).toEqual({ content: "", reasoning: "still thinking", unterminated: true });
  });
  test("no reasoning at all", () => {
    expect(splitReasoning({ content: null })).toEqual({ content: "", reasoning: "", unterminated: false });
  });
});
