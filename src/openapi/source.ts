/**
 * Reading `spec_path`: a file (relative to the working directory, as LiteLLM reads it) or an
 * http(s) URL, bounded in size and time. Redirects are refused rather than followed: the URL
 * the operator wrote is the one whose origin the guard rail in servers.ts compares against.
 */
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import { SpecError } from "./types.js";

export const DEFAULT_MAX_SPEC_BYTES = 32 * 1024 * 1024;
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

export interface SpecBytes {
  text: string;
  /** Set when the spec came from a URL. */
  url: URL | undefined;
}

export interface ReadOptions {
  maxBytes: number;
  timeoutMs: number;
  fetch: typeof fetch;
}

export function isUrlSpec(specPath: string): boolean {
  return /^https?:\/\//i.test(specPath);
}

/** The spec's location for messages: a URL without its credentials or query (either may hold a secret). */
export function displayLocation(specPath: string): string {
  if (!isUrlSpec(specPath)) return specPath;
  try {
    const url = new URL(specPath);
    return `${url.origin}${url.pathname}${url.search ? "?…" : ""}`;
  } catch {
    return "(an invalid URL)";
  }
}

export async function readSpec(specPath: string, where: string, options: ReadOptions): Promise<SpecBytes> {
  if (isUrlSpec(specPath)) return { text: await fetchSpec(specPath, where, options), url: new URL(specPath) };
  return { text: await readSpecFile(resolve(specPath), where, options.maxBytes), url: undefined };
}

async function readSpecFile(file: string, where: string, maxBytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    throw new SpecError(`${where}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new SpecError(`${where}: the file has ${size} bytes, more than the ${maxBytes} a spec may have`);
    return decode(await handle.readFile(), where);
  } finally {
    await handle.close();
  }
}

async function fetchSpec(specPath: string, where: string, options: ReadOptions): Promise<string> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  try {
    response = await options.fetch(specPath, {
      redirect: "manual",
      signal,
      headers: { accept: "application/json, application/yaml;q=0.9, */*;q=0.5" },
    });
  } catch (error) {
    throw new SpecError(`${where}: ${fetchFailure(error, options.timeoutMs)}`);
  }
  if (response.status >= 300 && response.status < 400 || response.type === "opaqueredirect") {
    await response.body?.cancel();
    throw new SpecError(`${where}: the server answered ${response.status} (a redirect); redirects are not followed: set spec_path to the final URL`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new SpecError(`${where}: the server answered ${response.status} ${response.statusText}`.trimEnd());
  }
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > options.maxBytes) {
    await response.body?.cancel();
    throw new SpecError(`${where}: the document has ${declared} bytes, more than the ${options.maxBytes} a spec may have`);
  }
  try {
    return decode(await readBounded(response, options.maxBytes, where), where);
  } catch (error) {
    if (error instanceof SpecError) throw error;
    throw new SpecError(`${where}: ${fetchFailure(error, options.timeoutMs)}`);
  }
}

async function readBounded(response: Response, maxBytes: number, where: string): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new SpecError(`${where}: the document is larger than the ${maxBytes} bytes a spec may have`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function decode(bytes: Buffer, where: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new SpecError(`${where}: the document is not UTF-8 text`);
  }
}

function fetchFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `cannot fetch the document (${error instanceof Error ? error.message : String(error)}${cause})`;
}
