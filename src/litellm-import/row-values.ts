/**
 * Typed reads of a LiteLLM row's columns, as pg returns them (TEXT[] as arrays, JSONB
 * parsed, BIGINT as strings). A missing column, NULL and a value of another type all read
 * as undefined: deployments differ, and the mapping decides what an absent value means.
 */
import type { Row } from "./litellm-database.js";

export function text(row: Row, column: string): string | undefined {
  const value = row[column];
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function texts(row: Row, column: string): string[] | undefined {
  const value = row[column];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : undefined;
}

export function flag(row: Row, column: string): boolean | undefined {
  const value = row[column];
  return typeof value === "boolean" ? value : undefined;
}

export function object(row: Row, column: string): Record<string, unknown> | undefined {
  const value = row[column];
  return isObject(value) ? value : undefined;
}

export function count(row: Row, column: string): number | undefined {
  const value = row[column];
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof number === "number" && Number.isFinite(number) ? number : undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
