/**
 * How a tool's result is shown on the "MCP Tools" page. Upstream content is never trusted:
 * every text goes through JSX escaping, images are shown only for an allowlist of raster types
 * (never SVG), and links only for http(s) URIs.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

type ContentItem = CallToolResult["content"][number];

const SAFE_IMAGE = /^image\/(png|jpeg|gif|webp)$/i;
const AUDIO = /^audio\/[a-z0-9][a-z0-9.+-]*$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The JSON object or array the text holds, if it holds one. */
function parseJsonContainer(text: string): object | undefined {
  const start = text.trimStart()[0];
  if (start !== "{" && start !== "[") return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A `<pre>` drops one newline right after its start tag; keep a leading newline of the text. */
function preText(text: string): string {
  return text.startsWith("\n") || text.startsWith("\r") ? `\n${text}` : text;
}

function compactBase64(data: string): string {
  return data.replace(/\s+/g, "");
}

function base64Bytes(data: string): number {
  const compact = compactBase64(data);
  const padding = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((compact.length * 3) / 4) - padding);
}

function isBase64(data: string): boolean {
  const compact = compactBase64(data);
  return compact.length % 4 === 0 && BASE64.test(compact);
}

function isHttpUrl(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** Text as pretty JSON when it is a JSON object or array, otherwise as is. */
function TextBlock(props: { text: string }) {
  const json = parseJsonContainer(props.text);
  return json === undefined ? <pre class="text">{preText(props.text)}</pre> : <pre class="json">{prettyJson(json)}</pre>;
}

function Note(props: { text: string }) {
  return <p class="note">{props.text}</p>;
}

function ImageItem(props: { data: string; mimeType: string }) {
  const mimeType = props.mimeType.toLowerCase();
  const bytes = base64Bytes(props.data);
  if (!SAFE_IMAGE.test(mimeType)) return <Note text={`Image not shown: ${props.mimeType} is not a displayable image type (${bytes} bytes).`} />;
  if (!isBase64(props.data)) return <Note text={`Image not shown: the ${props.mimeType} data is not valid base64.`} />;
  return <img src={`data:${mimeType};base64,${compactBase64(props.data)}`} alt={`image result (${mimeType})`} />;
}

function AudioItem(props: { data: string; mimeType: string }) {
  const mimeType = props.mimeType.toLowerCase();
  if (!AUDIO.test(mimeType)) return <Note text={`Audio not shown: ${props.mimeType} is not an audio type (${base64Bytes(props.data)} bytes).`} />;
  if (!isBase64(props.data)) return <Note text={`Audio not shown: the ${props.mimeType} data is not valid base64.`} />;
  return (
    <audio controls src={`data:${mimeType};base64,${compactBase64(props.data)}`} aria-label={`audio result (${mimeType})`}>
      {`Your browser cannot play ${mimeType} audio.`}
    </audio>
  );
}

function ContentView(props: { item: ContentItem }) {
  const item = props.item;
  switch (item.type) {
    case "text":
      return (
        <div class="content-item content-text">
          <TextBlock text={item.text} />
        </div>
      );
    case "image":
      return (
        <div class="content-item content-image">
          <ImageItem data={item.data} mimeType={item.mimeType} />
        </div>
      );
    case "audio":
      return (
        <div class="content-item content-audio">
          <AudioItem data={item.data} mimeType={item.mimeType} />
        </div>
      );
    case "resource": {
      const resource = item.resource;
      const mimeType = resource.mimeType;
      return (
        <div class="content-item content-resource">
          <p>
            Resource <code>{resource.uri}</code>
            {mimeType === undefined ? null : ` (${mimeType})`}
          </p>
          {"text" in resource && typeof resource.text === "string" ? (
            <TextBlock text={resource.text} />
          ) : (
            <Note text={`binary resource (${mimeType ?? "unknown type"}, ${"blob" in resource && typeof resource.blob === "string" ? base64Bytes(resource.blob) : 0} bytes)`} />
          )}
        </div>
      );
    }
    case "resource_link":
      return (
        <div class="content-item content-resource-link">
          <p>
            Resource link <span class="resource-name">{item.name}</span>:{" "}
            {isHttpUrl(item.uri) ? (
              <a href={item.uri} rel="noopener noreferrer nofollow">
                {item.uri}
              </a>
            ) : (
              <code>{item.uri}</code>
            )}
            {item.mimeType === undefined ? null : ` (${item.mimeType})`}
          </p>
          {item.description === undefined ? null : <p class="muted">{item.description}</p>}
        </div>
      );
    default:
      return (
        <div class="content-item content-unknown">
          <pre class="json">{prettyJson(item as unknown)}</pre>
        </div>
      );
  }
}

/** A tool's result: its content items in order, then its structured content. */
export function ToolResult(props: { result: CallToolResult }) {
  const result = props.result;
  const isError = result.isError === true;
  const content: ContentItem[] = Array.isArray(result.content) ? result.content : [];
  const structured: unknown = result.structuredContent;
  return (
    <section class={isError ? "tool-result is-error" : "tool-result"} role={isError ? "alert" : undefined}>
      <h2>{isError ? "Tool error" : "Result"}</h2>
      {content.length === 0 && structured === undefined ? <p class="muted">The tool returned no content.</p> : null}
      {content.map((item) => (
        <ContentView item={item} />
      ))}
      {structured === undefined ? null : (
        <>
          <h3>Structured content</h3>
          <pre class="json structured">{prettyJson(structured)}</pre>
        </>
      )}
    </section>
  );
}

/** A failure to call the tool at all (upstream down, refused, timed out…). */
export function ToolError(props: { title: string; message: string; hint?: string }) {
  return (
    <div class="alert error tool-error" role="alert">
      <h2>{props.title}</h2>
      <p>{props.message}</p>
      {props.hint === undefined || props.hint === "" ? null : <p class="hint">{props.hint}</p>}
    </div>
  );
}
