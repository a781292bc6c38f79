import { describe, expect, it } from "vitest";
import { GatewayError, JsonRpcCode } from "../../../src/errors.js";
import { calledTool, parseJsonRpcBody, responseId } from "../../../src/mcp/jsonrpc.js";

function rpcCodeOf(body: string): number | undefined {
  try {
    parseJsonRpcBody(body);
    return undefined;
  } catch (error) {
    return error instanceof GatewayError ? error.rpcCode : NaN;
  }
}

describe("parseJsonRpcBody", () => {
  it("accepts requests, notifications, responses and batches", () => {
    expect(parseJsonRpcBody('{"jsonrpc":"2.0","id":1,"method":"tools/list"}').isBatch).toBe(false);
    expect(parseJsonRpcBody('{"jsonrpc":"2.0","method":"notifications/initialized"}').messages).toHaveLength(1);
    expect(parseJsonRpcBody('{"jsonrpc":"2.0","id":"a","result":{}}').messages).toHaveLength(1);
    expect(parseJsonRpcBody('[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]').isBatch).toBe(true);
  });

  it("answers -32700 for unparsable JSON, as the MCP SDK does", () => {
    expect(rpcCodeOf("{not json")).toBe(JsonRpcCode.ParseError);
    expect(rpcCodeOf("")).toBe(JsonRpcCode.ParseError);
  });

  it("answers -32600 for JSON that is not a JSON-RPC message", () => {
    for (const body of ['{"foo":1}', "[]", '{"jsonrpc":"1.0","id":1,"method":"x"}', '{"jsonrpc":"2.0","id":{},"method":"x"}', "42", '{"jsonrpc":"2.0","id":1,"method":"x","params":3}']) {
      expect(rpcCodeOf(body), body).toBe(JsonRpcCode.InvalidRequest);
    }
  });
});

describe("helpers", () => {
  it("responseId is the single request's id, else null", () => {
    expect(responseId(parseJsonRpcBody('{"jsonrpc":"2.0","id":7,"method":"x"}'))).toBe(7);
    expect(responseId(parseJsonRpcBody('[{"jsonrpc":"2.0","id":7,"method":"x"}]'))).toBeNull();
    expect(responseId(undefined)).toBeNull();
  });

  it("calledTool names the tool of tools/call only", () => {
    const [call] = parseJsonRpcBody('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}').messages;
    const [list] = parseJsonRpcBody('{"jsonrpc":"2.0","id":1,"method":"tools/list"}').messages;
    expect(calledTool(call!)).toBe("echo");
    expect(calledTool(list!)).toBeUndefined();
  });
});
