/**
 * LiteLLM's duration strings, as its key API takes them (`duration`, `budget_duration`):
 * a whole number and a unit, `s`, `m`, `h`, `d`, `w` or `mo` (calendar months), or one of
 * the words `hourly`, `daily`, `weekly`, `monthly` (1h, 24h, 7d, 30d). LiteLLM matches a
 * prefix of the string; Gatehouse wants the whole string (spaces between the number and
 * the unit allowed), so `30days` is an error rather than 30 days by accident.
 */

const FORM = /^(\d{1,9})\s*(mo|s|m|h|d|w)$/;
const WORDS: Record<string, string> = { hourly: "1h", daily: "24h", weekly: "7d", monthly: "30d" };
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** What a 400 says about a bad duration. */
export const DURATION_HINT = "a number and a unit: 30s, 15m, 12h, 30d, 2w or 1mo (or hourly, daily, weekly, monthly)";

export function isDuration(value: string): boolean {
  return FORM.test(WORDS[value.trim()] ?? value.trim());
}

/** The moment `duration` after `from`; undefined when the string is not a duration. */
export function addDuration(from: Date, duration: string): Date | undefined {
  const match = FORM.exec(WORDS[duration.trim()] ?? duration.trim());
  if (match === null) return undefined;
  const count = Number(match[1]);
  const unit = match[2] as keyof typeof UNIT_MS | "mo";
  if (unit !== "mo") return new Date(from.getTime() + count * UNIT_MS[unit]);
  return addMonths(from, count);
}

/** Calendar months, the day clamped to the target month's last day (Jan 31 + 1mo = Feb 28 or 29). */
function addMonths(from: Date, months: number): Date {
  const target = new Date(from.getTime());
  const day = target.getUTCDate();
  target.setUTCDate(1);
  target.setUTCMonth(target.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(day, lastDay));
  return target;
}
