import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../../src/errors.js";
import { parseJsonRpcBody } from "../../../src/mcp/jsonrpc.js";
import { assertUnambiguousKeys, foldCase } from "../../../src/mcp/unambiguous-keys.js";

const refused = (text: string) => {
  try {
    parseJsonRpcBody(text);
  } catch (error) {
    return error as GatewayError;
  }
  return undefined;
};

describe("ambiguous JSON-RPC keys", () => {
  it.each([
    ["params 'Name' beside 'name'", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"delete_repo"}}'],
    ["params 'NAME' alone", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"delete_repo"}}'],
    ["'METHOD' beside 'method'", '{"jsonrpc":"2.0","id":1,"method":"tools/list","METHOD":"tools/call","params":{"name":"delete_repo"}}'],
    ["'name' twice", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","name":"echo"}}'],
    ["'name' twice, once escaped", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\\u0061me":"delete_repo","name":"echo"}}'],
    ["'method' twice", '{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"x"}}'],
    ["'params' twice", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo"},"params":{"name":"echo"}}'],
    ["'argumentſ' (long s folds to s)", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","argument\u017f":{}}}'],
    ["'İd' (Go folds U+0130 onto i)", '{"jsonrpc":"2.0","id":1,"\u0130d":2,"method":"tools/list"}'],
    ["a params key cut at NUL by C decoders", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name\\u0000":"delete_repo","name":"echo"}}'],
    ["a key that differs only in case from another, not interpreted", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","foo":1,"FOO":2}}'],
    ["a batch whose second message repeats a key", '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","Name":"x"}}]'],
    ["'Id' beside 'id'", '{"jsonrpc":"2.0","id":1,"Id":2,"method":"ping"}'],
  ])("%s is -32600", (_label, text) => {
    const error = refused(text);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error?.rpcCode).toBe(-32600);
    expect(error?.status).toBe(400);
    expect(error?.message).toMatch(/^Invalid Request: .*spelled exactly/);
  });

  it("a method in other letter case is -32600, a tool name with a control character or a lone surrogate -32602", () => {
    expect(refused('{"jsonrpc":"2.0","id":1,"method":"Tools/Call","params":{"name":"x"}}')?.rpcCode).toBe(-32600);
    expect(refused('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo\\u0000echo"}}')?.rpcCode).toBe(-32602);
    expect(refused('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo\\ud800"}}')?.rpcCode).toBe(-32602);
    expect(refused('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"caf\\u00e9 \\ud83d\\ude00"}}')).toBeUndefined();
  });

  it.each([
    ["keys repeated inside arguments", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":1,"A":2,"a":3}}}'],
    ["'Name' nested deeper than params", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":{"Name":"y","name":"z"}}}}'],
    ["strings full of quotes, braces and escapes", '{"jsonrpc":"2.0","id":"a\\"}{","method":"tools/call","params":{"name":"echo","arguments":{"m":"\\\\\\"}]{[\\\\","n":["}",{"\\"":1}]}}}'],
    ["whitespace everywhere", ' [ { "jsonrpc" : "2.0" , "id" : 1 , "method" : "ping" , "params" : { } } , { "jsonrpc":"2.0","method":"notifications/initialized" } ] '],
    ["results and errors from the client", '[{"jsonrpc":"2.0","id":1,"result":{"Name":1,"name":2}},{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"m"}}]'],
    ["params as an array", '{"jsonrpc":"2.0","id":1,"method":"x","params":[1,{"a":1}]}'],
  ])("%s pass", (_label, text) => {
    expect(refused(text)).toBeUndefined();
  });

  it("folds the way case-insensitive decoders do", () => {
    expect(foldCase("NAME")).toBe("name");
    expect(foldCase("argument\u017f")).toBe("arguments");
    expect(foldCase("\u212Aey")).toBe("key");
  });

  // Property: the scanner agrees with a reference built from the object's own key list.
  it("refuses exactly the objects whose keys collide up to case, whatever the values", () => {
    const key = fc.oneof(fc.constantFrom("name", "Name", "arguments", "x", "X", "\u017f", "s", "S"), fc.string({ maxLength: 6 }));
    const value = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 6 }), (entries) => {
        const params = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
        const text = `{"jsonrpc":"2.0","id":1,"method":"x/y","params":${params}}`;
        const folds = entries.map(([k]) => foldCase(k));
        const interpreted = new Map(["name", "arguments", "cursor", "uri", "ref", "argument", "level", "_meta", "protocolVersion", "capabilities", "clientInfo", "task"].map((k) => [foldCase(k), k]));
        const expectRefusal =
          entries.some(([k]) => !/^[\x20-\x7e]*$/.test(k)) ||
          new Set(folds).size !== folds.length || entries.some(([k]) => interpreted.has(foldCase(k)) && interpreted.get(foldCase(k)) !== k);
        let threw = false;
        try {
          assertUnambiguousKeys(text);
        } catch {
          threw = true;
        }
        expect(threw).toBe(expectRefusal);
      }),
      { numRuns: 500 },
    );
  });
});
