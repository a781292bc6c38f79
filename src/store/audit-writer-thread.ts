/**
 * A worker thread that writes audit batches to a SQLite file through its own
 * better-sqlite3 connection (WAL lets it write while the gateway's connection reads).
 * On the event loop, SQLite cost ~8 µs an event and held requests for a millisecond per
 * transaction; here the event loop only hands over a batch.
 *
 * The thread runs the source text of `sqliteBatchWriter` (a self-contained function), so
 * the same code writes in the thread and in-process, and the thread needs no file of its
 * own (which would not exist when the gateway runs from TypeScript source, as in tests).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { sqliteBatchWriter, type AuditBatch } from "./audit-batch.js";

export interface AuditWriterThread {
  insert(batch: AuditBatch): Promise<void>;
  close(): Promise<void>;
}

const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const sqlite = new Database(workerData.path);
sqlite.pragma("busy_timeout = 5000");
sqlite.pragma("synchronous = NORMAL");
const write = (${sqliteBatchWriter.toString()})(sqlite);
parentPort.on("message", ({ id, batch }) => {
  try {
    write(batch);
    parentPort.postMessage({ id });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** Starts the thread on the first write; a thread that died is replaced at the next one. */
export function auditWriterThread(path: string): AuditWriterThread {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  let worker: Worker | undefined;
  let nextId = 0;
  const waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();

  function failAll(error: Error): void {
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  }

  function start(): Worker {
    const started = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { driver, path },
      name: "gatehouse audit writer",
      // The thread only decodes batches and hands them to SQLite: a small young generation
      // keeps its isolate's memory small (V8 would otherwise size it like the main thread's).
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    started.on("message", ({ id, error }: { id: number; error?: string }) => {
      const settle = waiting.get(id);
      waiting.delete(id);
      if (waiting.size === 0) started.unref();
      if (error === undefined) settle?.resolve();
      else settle?.reject(new Error(error));
    });
    started.on("error", (error) => failAll(error));
    started.on("exit", (code) => {
      if (worker === started) worker = undefined;
      failAll(new Error(`the audit writer thread stopped (exit code ${code})`));
    });
    return started;
  }

  return {
    insert(batch) {
      worker ??= start();
      // Referenced while a write is waiting (a shutdown's last batch must land); idle, it must not keep the process up.
      worker.ref();
      const id = nextId++;
      const written = new Promise<void>((resolve, reject) => waiting.set(id, { resolve, reject }));
      worker.postMessage({ id, batch }, [batch.at.buffer, batch.durationMs.buffer, batch.status.buffer, batch.refs.buffer] as ArrayBuffer[]);
      return written;
    },
    async close() {
      const stopping = worker;
      worker = undefined;
      if (stopping !== undefined) await stopping.terminate();
    },
  };
}
