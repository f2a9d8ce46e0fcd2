/**
 * `manifold daemon`'s server: HTTP/1.1 on a root-only unix socket, one request per connection
 * (docs/daemon.md has the protocol). It reads a bounded request within a deadline, asks the
 * scheduler for a turn, runs the call through the runner (the one-shot skel and plugins) and
 * answers `{status, stdout}`. Hostile or broken input gets a CNI error and the daemon keeps
 * serving; a client that stalls loses its connection, not anyone else's turn.
 *
 * Nothing here blocks the event loop or exits the process: draining ends with `drain()`
 * resolving, and the command decides what happens next.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CniError, Code } from '../cni/errors.ts';
import { Metrics } from './metrics.ts';
import {
  CALL_MARKER,
  type CniRequest,
  type CniResponse,
  cniVersionOf,
  errorResponse,
  MAX_BODY,
  parseRequest,
  servedWhileDraining,
} from './protocol.ts';
import type { RunCall } from './runner.ts';
import { Scheduler } from './scheduler.ts';
import { checkSocketPath, fallbacksLog, listenOn } from './socket.ts';

export interface DaemonOptions {
  readonly socket: string;
  readonly run: RunCall;
  /** Calls running at once (default 16). */
  readonly maxConcurrent?: number;
  /** How long a call may wait for its turn before it gets code 11 (default 30 s). */
  readonly queueBudgetMs?: number;
  /** The same for STATUS, which the shim gives 90 ms in all before it runs one-shot. */
  readonly statusBudgetMs?: number;
  /** Headers and body must arrive within this, or the connection is closed (default 5 s). */
  readonly requestDeadlineMs?: number;
  /** Calls waiting at most (default 1024); beyond, code 11 at once. */
  readonly maxWaiting?: number;
  /** Request bytes the waiting calls may hold (default 32 MiB); beyond, code 11 at once. */
  readonly maxWaitingBytes?: number;
  /** Take over a socket another daemon still serves. */
  readonly replace?: boolean;
  /** The daemon's own messages (one line each). */
  readonly log?: (line: string) => void;
  /** More metrics lines (Prometheus text) read at each scrape: the Kubernetes watches, garbage collection. */
  readonly extraMetrics?: () => readonly string[];
}

const JSON_TYPE = 'application/json';

export class Daemon {
  readonly metrics = new Metrics();
  readonly scheduler: Scheduler;
  readonly #opts: DaemonOptions;
  readonly #server: Server;
  #metricsServer: Server | undefined;
  #draining = false;
  /** Calls taken (body read) and not yet answered: what a drain waits for. */
  #active = 0;
  #idle: (() => void) | undefined;
  /** The marker ids of the calls running now (CALL_MARKER): a request carrying one is their child. */
  readonly #live = new Set<string>();

  constructor(opts: DaemonOptions) {
    this.#opts = opts;
    this.scheduler = new Scheduler(
      opts.maxConcurrent ?? 16,
      opts.maxWaiting ?? 1024,
      opts.maxWaitingBytes ?? 32 << 20,
    );
    this.#server = createServer({ keepAlive: false }, (req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s: Socket) => this.#deadline(s));
    this.#server.on('clientError', (err, s: Socket) => {
      // unparsable HTTP: a CNI error if the socket still takes one, then the connection ends
      if (s.writable && !(err as NodeJS.ErrnoException).code?.startsWith('ERR_HTTP_REQUEST_TIMEOUT')) {
        const body = JSON.stringify(
          errorResponse(Code.DecodingFailure, 'failed to decode request: not HTTP/1.1'),
        );
        s.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      s.destroy();
    });
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Checks the socket path and serves on it. */
  async start(): Promise<void> {
    await checkSocketPath(this.#opts.socket, this.#opts.replace ?? false);
    await listenOn(this.#server, this.#opts.socket);
  }

  /** GET /metrics also on 127.0.0.1:`port` (never another address). Resolves with the port bound. */
  async serveMetrics(port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') void this.#sendMetrics(res);
      else send(res, 404, { error: 'only GET /metrics is served here' });
    });
    this.#metricsServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  /**
   * SIGTERM: /readyz turns 503 and new ADD, CHECK and GC get code 11, while DEL, STATUS and
   * VERSION are still served; resolves true once every call taken has been answered, false if
   * that took longer than `boundMs`. The servers are closed either way.
   */
  async drain(boundMs = 30_000): Promise<boolean> {
    this.#draining = true;
    let clean = true;
    if (this.#active > 0) {
      clean = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), boundMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    }
    await this.close();
    return clean;
  }

  /** Stops serving at once: no new connection is accepted, open ones are dropped. */
  async close(): Promise<void> {
    const servers = [this.#server, this.#metricsServer].filter((s): s is Server => s !== undefined);
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }

  /** The per-connection deadline: the request's headers and body within it, else the connection ends. */
  #deadline(s: Socket): void {
    const ms = this.#opts.requestDeadlineMs ?? 5000;
    const timer = setTimeout(() => {
      this.#opts.log?.(`closed a connection that sent no complete request within ${ms} ms`);
      s.destroy();
    }, ms);
    timer.unref();
    DEADLINES.set(s, timer);
    s.once('close', () => clearTimeout(timer));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrived = performance.now();
    res.shouldKeepAlive = false;
    const route = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    if (route === 'POST /cni') return this.#cni(req, res, arrived);
    // nothing else has a body worth reading: the deadline stops once the request is in
    req.resume();
    req.once('end', () => clearTimeout(DEADLINES.get(req.socket)));
    switch (route) {
      case 'GET /healthz':
        return send(res, 200, { ok: true });
      case 'GET /readyz':
        return this.#draining
          ? send(res, 503, { ready: false, draining: true })
          : send(res, 200, { ready: true });
      case 'GET /metrics':
        return this.#sendMetrics(res);
      default:
        return send(res, 404, { error: `no ${route}: POST /cni, GET /healthz, /readyz, /metrics` });
    }
  }

  async #cni(req: IncomingMessage, res: ServerResponse, arrived: number): Promise<void> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) return this.#refuse(res, 413, 'unknown', tooLarge(), arrived);
    let body: Buffer;
    try {
      body = await readBody(req, MAX_BODY);
    } catch (err) {
      if (err instanceof CniError) return this.#refuse(res, 413, 'unknown', err, arrived);
      res.destroy();
      return;
    }
    clearTimeout(DEADLINES.get(req.socket));
    let call: CniRequest;
    try {
      call = parseRequest(body);
    } catch (err) {
      return this.#refuse(res, 400, 'unknown', err as CniError, arrived);
    }
    const verb = call.env.CNI_COMMAND ?? '';
    const version = () => cniVersionOf(call.stdin);
    if (this.#draining && !servedWhileDraining(verb)) {
      const e = new CniError(
        Code.TryAgainLater,
        `the manifold daemon is shutting down and takes no new ${verb || 'call'}; try again later`,
      );
      return this.#refuse(res, 503, verb, e, arrived, version());
    }
    this.#active++;
    try {
      await this.#run(call, verb, res, arrived);
    } finally {
      this.#active--;
      if (this.#active === 0) this.#idle?.();
    }
  }

  async #run(call: CniRequest, verb: string, res: ServerResponse, arrived: number): Promise<void> {
    let answer: CniResponse;
    if (verb === 'VERSION') {
      answer = await this.#opts.run(call); // touches no state: never queued
    } else {
      const budget =
        verb === 'STATUS' ? (this.#opts.statusBudgetMs ?? 90) : (this.#opts.queueBudgetMs ?? 30_000);
      const key = call.env.CNI_CONTAINERID || undefined;
      const parent = call.env[CALL_MARKER];
      const turn =
        parent !== undefined && this.#live.has(parent)
          ? this.scheduler.nested()
          : await this.scheduler.admit(key, budget, call.stdin.length);
      this.metrics.queueWait(verb, turn.waitedMs / 1000);
      if (!turn.ok) {
        const why =
          turn.why === 'full'
            ? `${this.scheduler.waiting} calls are already waiting`
            : `waited ${Math.round(turn.waitedMs)} ms for a turn (budget ${budget} ms)`;
        const e = new CniError(Code.TryAgainLater, `the manifold daemon is busy: ${why}; try again later`);
        return this.#refuse(res, 503, verb, e, arrived, cniVersionOf(call.stdin));
      }
      const id = randomUUID();
      this.#live.add(id);
      try {
        // a caller that gave up while waiting (its shim's deadline) has already acted on it
        if (res.destroyed || res.socket?.destroyed) return;
        answer = await this.#opts.run({ ...call, env: { ...call.env, [CALL_MARKER]: id } });
      } finally {
        this.#live.delete(id);
        turn.done();
      }
    }
    this.metrics.request(verb, codeOf(answer), (performance.now() - arrived) / 1000);
    send(res, 200, answer);
  }

  /**
   * A call the daemon makes itself (garbage collection's DEL): it takes its turn as a client's
   * would (after the calls for that container that came first), runs through the same runner,
   * and counts in the same metrics. Undefined when it was not run (draining, or no turn).
   */
  async runOwn(call: CniRequest): Promise<CniResponse | undefined> {
    if (this.#draining) return undefined;
    const verb = call.env.CNI_COMMAND ?? '';
    const arrived = performance.now();
    const turn = await this.scheduler.admit(
      call.env.CNI_CONTAINERID || undefined,
      this.#opts.queueBudgetMs ?? 30_000,
    );
    this.metrics.queueWait(verb, turn.waitedMs / 1000);
    if (!turn.ok) return undefined;
    this.#active++;
    try {
      const answer = await this.#opts.run(call);
      this.metrics.request(verb, codeOf(answer), (performance.now() - arrived) / 1000);
      return answer;
    } finally {
      turn.done();
      this.#active--;
      if (this.#active === 0) this.#idle?.();
    }
  }

  /**
   * Work the daemon does itself on a container's attachments (hot-plug, src/daemon/hotplug.ts):
   * it takes its turn for `containerId` as a call would, so it never interleaves with the
   * runtime's calls for that container, and a drain waits for it. Undefined when it was not
   * run (draining, or no turn within the queue budget).
   */
  async runTask<T>(containerId: string, fn: () => Promise<T>): Promise<{ readonly value: T } | undefined> {
    if (this.#draining) return undefined;
    const turn = await this.scheduler.admit(containerId || undefined, this.#opts.queueBudgetMs ?? 30_000);
    this.metrics.queueWait('HOTPLUG', turn.waitedMs / 1000);
    if (!turn.ok) return undefined;
    this.#active++;
    try {
      return { value: await fn() };
    } finally {
      turn.done();
      this.#active--;
      if (this.#active === 0) this.#idle?.();
    }
  }

  #refuse(
    res: ServerResponse,
    http: number,
    verb: string,
    err: CniError,
    arrived: number,
    cniVersion?: string,
  ): void {
    const answer = errorResponse(err.code, err.message, cniVersion);
    this.metrics.request(verb || 'unknown', err.code, (performance.now() - arrived) / 1000);
    send(res, http, answer);
  }

  async #sendMetrics(res: ServerResponse): Promise<void> {
    const text = this.metrics.render({
      inFlight: this.scheduler.running,
      queued: this.scheduler.waiting,
      draining: this.#draining,
      fallbacks: await countLines(fallbacksLog(this.#opts.socket)),
      rssBytes: process.memoryUsage.rss(),
      extra: this.#opts.extraMetrics?.() ?? [],
    });
    res.writeHead(200, {
      'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      Connection: 'close',
    });
    res.end(text);
  }
}

const DEADLINES = new WeakMap<Socket, NodeJS.Timeout>();

function tooLarge(): CniError {
  return new CniError(Code.DecodingFailure, `failed to decode request: body larger than ${MAX_BODY} bytes`);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': JSON_TYPE,
    'Content-Length': Buffer.byteLength(text),
    Connection: 'close',
  });
  res.end(text);
}

/** The body, at most `max` bytes (a CniError beyond); rejects if the client goes away first. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > max) {
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(b);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('client went away'));
    });
  });
}

/** The CNI code of an answer: 0 on success, else the error's (999 when unreadable). */
function codeOf(a: CniResponse): number {
  if (a.status === 0) return 0;
  try {
    const code = (JSON.parse(a.stdout) as { code?: unknown }).code;
    return typeof code === 'number' ? code : Code.Internal;
  } catch {
    return Code.Internal;
  }
}

/** Lines of a file (0 when it is not there), read without blocking. */
async function countLines(file: string): Promise<number> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return 0;
  }
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}
