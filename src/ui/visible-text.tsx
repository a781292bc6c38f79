/**
 * Text an upstream or a caller chose (tool names, tool definitions), with the characters a
 * reader cannot see shown as escapes: a model reads invisible characters (Unicode tag
 * characters, zero-width ones, variation selectors used to smuggle text) and the bidi
 * controls reorder what is shown ("Trojan Source", CVE-2021-42574), so an instruction
 * could ride in a definition an admin approves while the page showed only harmless text.
 */
import type { Child } from "hono/jsx";

// Controls, format characters (bidi, zero-width, tags), private use, unassigned and
// surrogates; line and paragraph separators; spaces other than U+0020; blank letters
// (Hangul fillers, the braille blank); variation selectors and other invisible marks.
const HIDDEN_SOURCE = String.raw`[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u115F\u1160\u3164\uFFA0\u2800\u034F\u180B-\u180F\uFE00-\uFE0F\u{E0100}-\u{E01EF}]`;
// eslint-disable-next-line no-misleading-character-class -- the combining marks, each on its own, are what it looks for
const HIDDEN = new RegExp(HIDDEN_SOURCE, "gu");
// eslint-disable-next-line no-misleading-character-class -- as above
const ANY_HIDDEN = new RegExp(HIDDEN_SOURCE, "u");

/** `\u202e`, or `\u{e0041}` past the BMP. */
function escapeOf(character: string): string {
  const code = character.codePointAt(0)!;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

export const hasHiddenCharacters = (text: string): boolean => ANY_HIDDEN.test(text);

/** The text with hidden characters as escapes (for attributes and titles). */
export const visibleText = (text: string): string => text.replace(HIDDEN, escapeOf);

/** Controls a description may carry for its layout: shown as they are where `multiline`. */
const LAYOUT = new Set(["\n", "\r", "\t"]);

/** The text with hidden characters as highlighted escapes; `multiline` keeps line breaks and tabs (descriptions). */
export function Visible(props: { text: string; multiline?: boolean }) {
  const parts: Child[] = [];
  let last = 0;
  for (const match of props.text.matchAll(HIDDEN)) {
    if (props.multiline === true && LAYOUT.has(match[0])) continue;
    if (match.index > last) parts.push(props.text.slice(last, match.index));
    parts.push(
      <span class="hidden-char" title="a character that does not show (invisible, or changing the text's direction)">
        {escapeOf(match[0])}
      </span>,
    );
    last = match.index + match[0].length;
  }
  if (last === 0) return <>{props.text}</>;
  if (last < props.text.length) parts.push(props.text.slice(last));
  return <>{parts}</>;
}
