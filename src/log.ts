/**
 * The gateway's logger. pino writes JSON lines to stdout, or, in the `pretty` format (the
 * default on a terminal), one coloured line per event through pino's own pretty printer.
 * Anything that could carry a credential is redacted by path as a second line of defence
 * (the first is never logging secrets at all); redaction runs before either format.
 */
import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import type { PrettyOptions } from "pino-pretty";

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

export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level?: string;
  /** `json` (default): one JSON object a line; `pretty`: one human line per event, coloured when the output is a terminal. */
  format?: LogFormat;
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
    options.format === "pretty" ? prettyStream(options.destination) : options.destination,
  );
}

/**
 * pino-pretty as a synchronous stream in this thread (not a worker transport), so a line
 * is written before the process exits on a startup error, like a JSON one. Loaded only
 * when asked for.
 */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  const pretty = createRequire(import.meta.url)("pino-pretty") as (options: PrettyOptions) => pino.DestinationStream;
  return pretty({
    ...(destination === undefined ? {} : { destination: destination as NodeJS.WritableStream }),
    sync: true,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,service",
  });
}

/** A logger that drops everything, for in-process tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
