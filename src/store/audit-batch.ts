/**
 * A batch of audit events on its way to the database, in columns: numbers in typed
 * arrays and repeated strings (caller, server, tool, ...) once each, so handing a batch to
 * the writer thread copies little and transfers the rest.
 */

/** The string columns, in the order of a batch's `refs`. */
export const AUDIT_STRING_COLUMNS = ["caller_kind", "caller", "subject", "user_id", "route", "server", "tool", "outcome", "error_code"] as const;

/**
 * Each string column's width on PostgreSQL (`varchar(n)`, migrations 004 and 017), in
 * `AUDIT_STRING_COLUMNS`' order, and `request_id`'s: a longer value would fail its whole
 * batch there, so values are cut to fit before they are written.
 */
export const AUDIT_STRING_WIDTHS = [16, 255, 255, 255, 16, 255, 255, 32, 64] as const;
export const AUDIT_REQUEST_ID_WIDTH = 128;

export interface AuditBatch {
  length: number;
  /** Row ids are `idPrefix` and a base-36 sequence number, from `firstSequence` on. */
  idPrefix: string;
  firstSequence: number;
  /** When each event happened, in ms since the epoch. */
  at: Float64Array;
  durationMs: Float64Array;
  /** The HTTP status, NaN for none. */
  status: Float64Array;
  requestIds: Array<string | null>;
  /** Per event, one index into `strings` per string column (0 is null). */
  refs: Uint32Array;
  strings: Array<string | null>;
}

/**
 * Writes batches to an audit_events table through a better-sqlite3 connection, in one
 * transaction per batch, with multi-row INSERTs (a 16-row statement costs ~25% less per
 * row than one row at a time).
 *
 * Self-contained (it refers to nothing outside its body) because the writer thread runs
 * its source text: see audit-writer-thread.ts.
 */
export function sqliteBatchWriter(sqlite: {
  prepare(source: string): { run(...parameters: unknown[]): unknown };
  transaction<A extends unknown[]>(run: (...args: A) => void): (...args: A) => void;
}): (batch: AuditBatch) => void {
  const columns = ["id", "at", "request_id", "caller_kind", "caller", "subject", "user_id", "route", "server", "tool", "outcome", "status", "error_code", "duration_ms"];
  const stringColumns = ["caller_kind", "caller", "subject", "user_id", "route", "server", "tool", "outcome", "error_code"];
  const ROWS = 16;
  const width = columns.length;
  const placeholders = (rows: number) => Array.from({ length: rows }, () => `(${columns.map(() => "?").join(", ")})`).join(", ");
  const many = sqlite.prepare(`INSERT INTO audit_events (${columns.join(", ")}) VALUES ${placeholders(ROWS)}`);
  const one = sqlite.prepare(`INSERT INTO audit_events (${columns.join(", ")}) VALUES ${placeholders(1)}`);
  const parameters: unknown[] = new Array(ROWS * width);
  const single: unknown[] = new Array(width);

  function fill(target: unknown[], offset: number, batch: AuditBatch, row: number): void {
    const refs = row * stringColumns.length;
    const { strings } = batch;
    const status = batch.status[row]!;
    target[offset] = batch.idPrefix + (batch.firstSequence + row).toString(36);
    target[offset + 1] = new Date(batch.at[row]!).toISOString();
    target[offset + 2] = batch.requestIds[row] ?? null;
    // caller_kind, caller, subject, user_id, route, server, tool, outcome: the columns after request_id.
    for (let column = 0; column < 8; column++) target[offset + 3 + column] = strings[batch.refs[refs + column]!] ?? null;
    target[offset + 11] = Number.isNaN(status) ? null : status;
    target[offset + 12] = strings[batch.refs[refs + 8]!] ?? null;
    target[offset + 13] = batch.durationMs[row];
  }

  return sqlite.transaction((batch: AuditBatch) => {
    let row = 0;
    for (; row + ROWS <= batch.length; row += ROWS) {
      for (let index = 0; index < ROWS; index++) fill(parameters, index * width, batch, row + index);
      many.run(parameters);
    }
    for (; row < batch.length; row++) {
      fill(single, 0, batch, row);
      one.run(single);
    }
  });
}

/** A batch's rows as objects (the PostgreSQL insert, and tests). */
export function batchRows(batch: AuditBatch) {
  const rows = [];
  for (let row = 0; row < batch.length; row++) {
    const refs = row * AUDIT_STRING_COLUMNS.length;
    const text = (column: number) => batch.strings[batch.refs[refs + column]!] ?? null;
    const status = batch.status[row]!;
    rows.push({
      id: batch.idPrefix + (batch.firstSequence + row).toString(36),
      at: new Date(batch.at[row]!).toISOString(),
      request_id: batch.requestIds[row] ?? null,
      caller_kind: text(0)!,
      caller: text(1)!,
      subject: text(2)!,
      user_id: text(3),
      route: text(4)!,
      server: text(5)!,
      tool: text(6)!,
      outcome: text(7)!,
      status: Number.isNaN(status) ? null : status,
      error_code: text(8),
      duration_ms: batch.durationMs[row]!,
    });
  }
  return rows;
}
