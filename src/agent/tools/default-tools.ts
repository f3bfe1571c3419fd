import { createEditorTool, type EditorOptions } from "./str-replace-editor.js";
import { createExecuteBashTool, type ExecuteBashOptions } from "./execute-bash.js";
import { createSubmitTool } from "./submit.js";
import type { AnyTool } from "./types.js";

export interface DefaultToolOptions {
  bash?: Partial<ExecuteBashOptions>;
  editor?: Partial<EditorOptions>;
}

/**
 * The tools IQuest-Coder was evaluated with, under the same names. Create them once per run:
 * the editor keeps its undo history in the instance.
 */
export function createDefaultTools(options: DefaultToolOptions = {}): AnyTool[] {
  return [createExecuteBashTool(options.bash), createEditorTool(options.editor), createSubmitTool()];
}
