/**
 * A tiny logger. Off unless a config asks for it (`logFile`, `logLevel`, `logToStderr`, the
 * Multus field names). It never writes to stdout, which belongs to the CNI protocol, and
 * never throws: a broken log must not break a CNI call.
 */
import { appendFileSync } from 'node:fs';

export const LEVELS = ['panic', 'error', 'info', 'verbose', 'debug'] as const;
export type Level = (typeof LEVELS)[number];

interface Sink {
  file?: string;
  stderr?: (s: string) => void;
  level: number;
}

let sink: Sink = { level: -1 };
let tag = 'manifold';

export interface LogOptions {
  logFile?: string | undefined;
  logLevel?: string | undefined;
  logToStderr?: boolean | undefined;
}

/** Configures the logger from a config's log fields; unknown levels fall back to "info". */
export function configureLog(opts: LogOptions, stderr: (s: string) => void, name?: string): void {
  const requested = LEVELS.indexOf((opts.logLevel ?? '').toLowerCase() as Level);
  const level = requested >= 0 ? requested : LEVELS.indexOf('info');
  const next: Sink = { level: opts.logFile || opts.logToStderr ? level : -1 };
  if (opts.logFile) next.file = opts.logFile;
  if (opts.logToStderr) next.stderr = stderr;
  sink = next;
  if (name) tag = name;
}

function write(level: Level, msg: string): void {
  if (LEVELS.indexOf(level) > sink.level) return;
  const line = `${new Date().toISOString()} [${level}] ${tag}[${process.pid}]: ${msg}\n`;
  try {
    if (sink.file) appendFileSync(sink.file, line, { mode: 0o600 });
  } catch {
    // a log that cannot be written is dropped
  }
  sink.stderr?.(line);
}

export const log = {
  error: (msg: string) => write('error', msg),
  info: (msg: string) => write('info', msg),
  verbose: (msg: string) => write('verbose', msg),
  debug: (msg: string) => write('debug', msg),
  enabled: (level: Level) => LEVELS.indexOf(level) <= sink.level,
};
