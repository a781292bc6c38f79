/** An API's answer as an MCP tool result (being written). */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { HttpAnswer } from "./types.js";

export function toolResult(answer: HttpAnswer): CallToolResult {
  return { content: [{ type: "text", text: `HTTP ${answer.status}` }], isError: true };
}
