/** Real OpenAPI documents shipped on npm (@readme/oas-examples, @figma/rest-api-spec) and this repo's own fixtures. */
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { SpecError } from "../../../src/openapi/types.js";

export const example = (path: string) => fileURLToPath(new URL(`../../../node_modules/@readme/oas-examples/${path}`, import.meta.url));
export const figmaSpec = fileURLToPath(new URL("../../../node_modules/@figma/rest-api-spec/openapi/openapi.yaml", import.meta.url));
export const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/openapi/${name}`, import.meta.url));
export const label = "mcp_servers.api.spec_path";

/** The message of the SpecError `promise` rejects with (it must reject with one). */
export async function specError(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(SpecError);
  return (error as SpecError).message;
}
