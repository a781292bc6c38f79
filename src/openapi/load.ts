/** Reads, converts, dereferences and compiles a server's OpenAPI document (being written). */
import { SpecError, type LoadedSpec, type SpecLoadOptions, type SpecSource } from "./types.js";

export async function loadSpec(source: SpecSource, options: SpecLoadOptions = {}): Promise<LoadedSpec> {
  void options;
  throw new SpecError(`${source.label}: OpenAPI servers are not supported yet`);
}
