/**
 * A tiny structured logger. Off unless a config asks for it (`logFile`, `logLevel`,
 * `logToStderr`, the Multus field names; `logFormat` json|text) or the command line does
 * (`--log-level`, `--log-format`). One line per event: JSON by default, carrying the call's
 * context (verb, container id, ifname, the delegate being run) and the event's fields (a step's
 * duration in ms); text for people. Secrets are redacted from every line. It never writes to
 * stdout, which belongs to the CNI protocol, and never throws. Off, it costs a comparison:
 * step() hands back one shared no-op and reads no clock.
 */
import { appendFileSync } from 'node:fs';
import { callValue, type Slot } from './call.ts';
import { redact } from './redact.ts';

export const LEVELS = ['panic', 'error', 'info', 'verbose', 'debug'] as const;
export type Level = (typeof LEVELS)[number];
export const FORMATS = ['json', 'text'] as const;
export type Format = (typeof FORMATS)[number];

export type Fields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Where lines go: the config's logFile and/or stderr, each with its level and format. */
interface Out {
  readonly write: (line: string) => void;
  readonly level: number;
  readonly format: Format;
}

interface Sink {
  readonly outs: readonly Out[];
  /** The most verbose level any output takes (-1: logging is off). */
  readonly level: number;
}

/**
 * What a call logs to and with: its config's outputs, its plugin's name, its context fields
 * (innermost last: the skel pushes the call, a nested call its delegate). Kept in the call's
 * scope (src/util/call.ts), so calls served at once by one process (the daemon) never write
 * to each other's logFile or with each other's container id; outside a call (the command
 * line), the process's own.
 */
interface LogState {
  sink: Sink;
  tag: string;
  readonly context: Fields[];
}

const processState: LogState = { sink: { outs: [], level: -1 }, tag: 'manifold', context: [] };
const LOG_SLOT: Slot<LogState> = { name: 'log' };
/** Set by the command line: stderr at its own level and format, whatever the config says (its logFile stays as it is). */
let override: Out | undefined;

/** The running call's log state (made from the process's on first use), else the process's. */
function state(make = false): LogState {
  return (
    callValue(
      LOG_SLOT,
      make ? () => ({ sink: processState.sink, tag: processState.tag, context: [] }) : undefined,
    ) ?? processState
  );
}

export interface LogOptions {
  logFile?: string | undefined;
  logLevel?: string | undefined;
  logToStderr?: boolean | undefined;
  logFormat?: string | undefined;
}

const levelOf = (s: string | undefined, fallback: Level) => {
  const i = LEVELS.indexOf((s ?? '').toLowerCase() as Level);
  return i >= 0 ? i : LEVELS.indexOf(fallback);
};
const formatOf = (s: string | undefined): Format | undefined =>
  FORMATS.includes(s as Format) ? (s as Format) : undefined;

function fileWriter(file: string): (line: string) => void {
  return (line) => {
    try {
      appendFileSync(file, line, { mode: 0o600 });
    } catch {
      // a log that cannot be written is dropped
    }
  };
}

function sinkOf(outs: Out[]): Sink {
  return { outs, level: Math.max(-1, ...outs.map((o) => o.level)) };
}

/** Configures the logger from a config's log fields; unknown levels fall back to "info", formats to "json". */
export function configureLog(opts: LogOptions, stderr: (s: string) => void, name?: string): void {
  const level = levelOf(opts.logLevel, 'info');
  const format = formatOf(opts.logFormat) ?? 'json';
  const outs: Out[] = [];
  if (opts.logFile) outs.push({ write: fileWriter(opts.logFile), level, format });
  if (override) outs.push(override);
  else if (opts.logToStderr) outs.push({ write: stderr, level, format });
  const st = state(true);
  st.sink = sinkOf(outs);
  if (name) st.tag = name;
}

/** The command line's `--log-level` / `--log-format`: stderr at that level and format, whatever the config says. */
export function overrideLog(
  level: string | undefined,
  format: string | undefined,
  stderr: (s: string) => void,
): void {
  override = { write: stderr, level: levelOf(level, 'info'), format: formatOf(format) ?? 'json' };
  const st = state();
  st.sink = sinkOf([...st.sink.outs, override]);
}

const NOOP = (): void => undefined;

/** Adds fields to every line until the returned function is called (nothing when logging is off). */
export function pushLogContext(fields: Fields): () => void {
  const { sink, context } = state();
  if (sink.level < 0) return NOOP;
  context.push(fields);
  return () => {
    const i = context.lastIndexOf(fields);
    if (i >= 0) context.splice(i, 1);
  };
}

function merged(fields: Fields | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const f of [...state().context, fields ?? {}])
    for (const [k, v] of Object.entries(f))
      if (v !== undefined && v !== '') out[k] = typeof v === 'string' ? redact(v) : v;
  return out;
}

function format(as: Format, level: Level, msg: string, fields: Fields | undefined): string {
  const ts = new Date().toISOString();
  const all = merged(fields);
  if (as === 'json') {
    const { verb, containerId, ifname, delegate, ...rest } = all;
    const tag = state().tag;
    return `${JSON.stringify({ ts, level, plugin: tag, pid: process.pid, verb, containerId, ifname, delegate, msg: redact(msg), ...rest })}\n`;
  }
  const { verb, containerId, ifname, delegate, ...rest } = all;
  const who = [
    verb,
    containerId && `${containerId}${ifname ? `/${ifname}` : ''}`,
    delegate && `[${delegate}]`,
  ]
    .filter(Boolean)
    .join(' ');
  const extra = Object.entries(rest).map(
    ([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`,
  );
  return `${ts} [${level}] ${state().tag}[${process.pid}]${who ? ` ${who}` : ''}: ${redact(msg)}${extra.length ? `  ${extra.join(' ')}` : ''}\n`;
}

function write(level: Level, msg: string, fields?: Fields): void {
  const n = LEVELS.indexOf(level);
  const { sink } = state();
  if (n > sink.level) return;
  const lines = new Map<Format, string>();
  for (const o of sink.outs) {
    if (n > o.level) continue;
    let line = lines.get(o.format);
    if (line === undefined) {
      try {
        line = format(o.format, level, msg, fields);
      } catch {
        return;
      }
      lines.set(o.format, line);
    }
    try {
      o.write(line);
    } catch {
      // stderr closed: nothing to tell
    }
  }
}

const VERBOSE = LEVELS.indexOf('verbose');

/**
 * Times one step of a call (netns open, link create, IPAM, routes): call the returned function
 * when it is done, and one verbose line says how long it took. Logging off: a shared no-op.
 */
function step(name: string, detail?: string): (more?: Fields) => void {
  if (state().sink.level < VERBOSE) return NOOP;
  const started = performance.now();
  return (more?: Fields) =>
    write('verbose', `${name}${detail ? `: ${detail}` : ''}`, {
      step: name,
      ms: Math.round((performance.now() - started) * 100) / 100,
      ...more,
    });
}

export const log = {
  error: (msg: string, fields?: Fields) => write('error', msg, fields),
  info: (msg: string, fields?: Fields) => write('info', msg, fields),
  verbose: (msg: string, fields?: Fields) => write('verbose', msg, fields),
  debug: (msg: string, fields?: Fields) => write('debug', msg, fields),
  enabled: (level: Level) => LEVELS.indexOf(level) <= state().sink.level,
  step,
};
