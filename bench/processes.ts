/** Child processes of the benchmark, and what the kernel says they cost (/proc, Linux). */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";

export interface Started {
  child: ChildProcess;
  pid: number;
  /** Stop it and wait until it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts `command` and resolves once a line of its output satisfies `ready` (a JSON
 * `{"listening": port}` line, or the gateway's "gatehouse is listening" log line).
 */
export function startProcess(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; ready: (line: string) => boolean; name: string; timeoutMs?: number }): Promise<Started> {
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${options.name} did not start within ${(options.timeoutMs ?? 20_000) / 1000} s:\n${lines.slice(-20).join("\n")}`));
    }, options.timeoutMs ?? 20_000);
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      if (!options.ready(line)) return;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
          }),
      });
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code}) before it was ready:\n${lines.slice(-20).join("\n")}`));
    });
  });
}

/** The port of a `{"listening": port}` line, if it is one. */
export function listeningPort(line: string): number | undefined {
  try {
    const parsed = JSON.parse(line) as { listening?: unknown };
    return typeof parsed.listening === "number" ? parsed.listening : undefined;
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = 100;

/** User + system CPU time of a process so far, in microseconds (/proc/PID/stat, fields 14 and 15). */
export async function cpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS;
}

/** Resident set size now and at its peak, in MiB (/proc/PID/status counts kB). */
export async function memoryMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** The pids of a process's children (nginx workers), from /proc. */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8");
    return children.trim().split(/\s+/).filter((value) => value !== "").map(Number);
  } catch {
    return [];
  }
}
