/**
 * A small client for the Kubernetes API on node:https: JSON requests with the target's
 * credentials (read again for every attempt), a timeout per request, and bounded retries of
 * connection errors, 5xx and 429 with backoff, all inside one time budget shared by every
 * request of a CNI call (the meta config's `kubeApiTimeoutSeconds`): a call never waits on
 * the API server past it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { CniError, Code, describeError } from '../cni/errors.ts';
import { ApiError, UnreachableError } from './errors.ts';
import type { Target, TargetSource } from './target.ts';

/** The most one request may take (less when the budget has less left). */
export const REQUEST_TIMEOUT_MS = 3000;
/** Attempts of one request, at most (fewer when the budget runs out first). */
export const MAX_ATTEMPTS = 6;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1000;
/** A retry is made only with at least this much of the budget left for it. */
const MIN_ATTEMPT_MS = 100;
/** A response body larger than this is refused (a pod or a NAD is a few KiB). */
const MAX_BODY_BYTES = 8 << 20;

/** One deadline for all the API work of a call. */
export class Budget {
  readonly totalMs: number;
  readonly #deadline: number;

  constructor(totalMs: number) {
    this.totalMs = totalMs;
    this.#deadline = performance.now() + totalMs;
  }

  remainingMs(): number {
    return Math.max(0, this.#deadline - performance.now());
  }
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/**
 * A connection someone else keeps (the daemon's, src/cni/host.ts's KubeHost): one attempt of a
 * request with that connection's own credentials; the client adds its retries and budget.
 */
export interface SharedConnection {
  readonly server: string;
  send(method: string, path: string, body: unknown, contentType: string, timeoutMs: number): Promise<Reply>;
}

function statusOf(body: unknown): { reason: string; message: string } {
  if (body && typeof body === 'object' && (body as { kind?: unknown }).kind === 'Status') {
    const s = body as { reason?: unknown; message?: unknown };
    return {
      reason: typeof s.reason === 'string' ? s.reason : '',
      message: typeof s.message === 'string' ? s.message : '',
    };
  }
  return { reason: '', message: '' };
}

const retriable = (status: number) => status >= 500 || status === 429;

export class KubeClient {
  readonly #source: TargetSource;
  readonly #budget: Budget;
  readonly #agents = keptAliveAgents();

  readonly #shared: SharedConnection | undefined;

  /** `source`: the credentials, read for every attempt; or a connection someone else keeps. */
  constructor(source: TargetSource | SharedConnection, budget: Budget) {
    this.#shared = typeof source === 'function' ? undefined : source;
    this.#source = typeof source === 'function' ? source : () => Promise.reject(new Error('unused'));
    this.#budget = budget;
  }

  /** The JSON body of a 2xx answer; ApiError for any other answer; UnreachableError when none came in time. */
  /**
   * `contentType` is the body's media type: JSON, or a patch type
   * (`application/merge-patch+json`, `application/apply-patch+yaml`).
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<unknown> {
    let last: unknown;
    let server = '';
    let backoff = FIRST_BACKOFF_MS;
    let attempts = 0;
    let started = 0;
    while (attempts < MAX_ATTEMPTS) {
      const left = this.#budget.remainingMs();
      if (left <= 0) break;
      const shared = this.#shared;
      const target = shared ? undefined : await this.#source();
      server = shared ? shared.server : (target as Target).server;
      if (attempts === 0) started = performance.now();
      attempts++;
      try {
        const timeoutMs = Math.min(REQUEST_TIMEOUT_MS, left);
        const reply = shared
          ? await shared.send(method, path, body, contentType, timeoutMs)
          : await sendOnce(this.#agents, target as Target, method, path, body, contentType, timeoutMs);
        if (reply.status >= 200 && reply.status < 300) return reply.body;
        const s = statusOf(reply.body);
        const err = new ApiError(reply.status, s.reason, s.message || `HTTP ${reply.status}`);
        if (!retriable(reply.status)) throw err;
        last = err;
      } catch (err) {
        if (err instanceof ApiError && !retriable(err.status)) throw err;
        if (!(err instanceof ApiError) && !isTransport(err)) {
          throw new CniError(
            Code.InvalidConfig,
            `${target ? target.source : "the daemon's API connection"}: cannot talk to ${server}: ${describeError(err)}`,
            'check the server address and its certificate authority',
          );
        }
        last = err;
      }
      if (attempts >= MAX_ATTEMPTS) break; // no backoff after the last attempt: nothing follows it
      // the next attempt gets at least MIN_ATTEMPT_MS of the budget, or is not made: one squeezed
      // into the budget's last milliseconds can only time out, and would be the error reported
      const wait = Math.min(backoff, this.#budget.remainingMs() - MIN_ATTEMPT_MS);
      if (wait < 0) break;
      await new Promise((r) => setTimeout(r, wait));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
    const budget = `${(this.#budget.totalMs / 1000).toFixed(1)} s`;
    if (attempts === 0) {
      throw new UnreachableError(
        `the API server was not asked ${method} ${path}: no time left of the ${budget} budget (0 attempts)`,
        0,
      );
    }
    // the time really spent, from the first attempt's start: attempts often run out well before the budget
    const spent = ((performance.now() - started) / 1000).toFixed(1);
    throw new UnreachableError(
      `the API server ${server} did not answer ${method} ${path} in ${spent} s (${attempts} attempt${attempts === 1 ? '' : 's'}, budget ${budget}): ${describeError(last)}`,
      attempts,
      { cause: last },
    );
  }

  /** Ends the kept-alive connections (the process would exit anyway; tests run in-process). */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}

/** The agents (kept-alive connections) requests go on. */
export interface Agents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

export function keptAliveAgents(): Agents {
  return { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
}

/** The request options for `path` on the target: its address, credentials and TLS settings. */
export function requestOptions(
  target: Target,
  method: string,
  path: string,
  headers: Record<string, string>,
  agents: Agents | undefined,
): { options: https.RequestOptions; tls: boolean } {
  const url = new URL(target.server);
  const tls = url.protocol === 'https:';
  const all: Record<string, string> = { ...headers, 'user-agent': 'manifold' };
  if (target.token) all.authorization = `Bearer ${target.token}`;
  else if (target.basic)
    all.authorization = `Basic ${Buffer.from(`${target.basic.username}:${target.basic.password}`).toString('base64')}`;
  const options: https.RequestOptions = {
    method,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || (tls ? 443 : 80),
    path: `${url.pathname.replace(/\/+$/, '')}${path}`,
    headers: all,
    agent: agents ? (tls ? agents.https : agents.http) : false,
  };
  if (tls) {
    if (target.ca) options.ca = target.ca;
    if (target.cert) options.cert = target.cert;
    if (target.key) options.key = target.key;
    options.rejectUnauthorized = !target.insecureSkipTlsVerify;
    if (target.tlsServerName) options.servername = target.tlsServerName;
  }
  return { options, tls };
}

/** One attempt of a JSON request: the status and decoded body, or a rejection when no answer came in `timeoutMs`. */
export function sendOnce(
  agents: Agents,
  target: Target,
  method: string,
  path: string,
  body: unknown,
  contentType: string,
  timeoutMs: number,
): Promise<Reply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = contentType;
    headers['content-length'] = String(payload.length);
  }
  const { options, tls } = requestOptions(target, method, path, headers, agents);
  return new Promise<Reply>((resolve, reject) => {
    const req = (tls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => {
      const err = new Error(`no answer within ${Math.round(timeoutMs)} ms`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}

/**
 * Connection-level failures (refused, reset, timed out, TLS handshake): worth another attempt.
 * Not: certificate problems, a key or certificate OpenSSL cannot read (ERR_OSSL_*), a server
 * address that is not a URL (ERR_INVALID_URL, a TypeError) — the same again would fail the same.
 */
function isTransport(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof TypeError) return false;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/^ERR_(TLS|SSL|OSSL|INVALID)_/.test(code)) return false;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME/.test(code)) return false;
  return true;
}
