/** Rendering hono/jsx components to a string in tests, and reading the markup back. */

export async function render(element: unknown): Promise<string> {
  const node = (await element) as { toString(): string | Promise<string> };
  return await node.toString();
}

export function unescape(text: string): string {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}
