/**
 * The gateway's logger. pino writes JSON lines to stdout; anything that could carry a
 * credential is redacted by path as a second line of defence (the first is never
 * logging secrets at all).
 */
import { pino, type Logger } from "pino";

export type { Logger };

const REDACT_PATHS = [
  "headers.authorization",
  "headers.cookie",
  'headers["x-litellm-api-key"]',
  "*.client_secret",
  "*.auth_value",
  "*.access_token",
  "*.refresh_token",
  "*.subject_token",
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "gatehouse" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/** A logger that drops everything, for in-process tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
