/**
 * A client of `manifold daemon`'s socket for the tests, independent of the daemon's code:
 * requests as the shim makes them (node:http, `Connection: close`), and raw bytes for what a
 * well-behaved client would never send.
 */
import { request } from 'node:http';
import { connect } from 'node:net';

export interface Answer {
  /** HTTP status. */
  readonly http: number;
  readonly body: string;
  /** The body as JSON, when it is. */
  readonly json: { status?: number; stdout?: string; [k: string]: unknown } | undefined;
  /** stdout's CNI error code, when stdout is a CNI error. */
  readonly code: number | undefined;
}

function answer(http: number, body: string): Answer {
  let json: Answer['json'];
  let code: number | undefined;
  try {
    json = JSON.parse(body) as Answer['json'];
    const c = JSON.parse(json?.stdout ?? '') as { code?: unknown };
    if (typeof c.code === 'number') code = c.code;
  } catch {
    // not JSON
  }
  return { http, body, json, code };
}

/** GET or POST `path` on the unix socket. */
export function httpCall(
  socket: string,
  method: string,
  path: string,
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Host: 'manifold', Connection: 'close' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = request({ socketPath: socket, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve(answer(res.statusCode ?? 0, Buffer.concat(chunks).toString())));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One CNI call as the shim forwards it. */
export function cniCall(
  socket: string,
  name: string,
  env: Record<string, string>,
  stdin: string | object,
): Promise<Answer> {
  const text = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  return httpCall(
    socket,
    'POST',
    '/cni',
    JSON.stringify({ name, env, stdin: Buffer.from(text).toString('base64') }),
  );
}

export interface RawOutcome {
  /** What came back before the daemon closed the connection. */
  readonly text: string;
  readonly answer: Answer | undefined;
  /** When the connection ended, ms after connecting. */
  readonly closedAfterMs: number;
  readonly error: string | undefined;
}

/**
 * Writes `chunks` to the socket as they are (a stalled client: write nothing, or half a
 * request) and reads until the daemon closes the connection, or `giveUpMs`.
 */
export function rawCall(socket: string, chunks: (string | Buffer)[], giveUpMs = 15_000): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = connect(socket);
    const got: Buffer[] = [];
    let error: string | undefined;
    const done = () => {
      clearTimeout(timer);
      const text = Buffer.concat(got).toString();
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(text);
      resolve({
        text,
        answer: m ? answer(Number(m[1]), m[2] as string) : undefined,
        closedAfterMs: performance.now() - started,
        error,
      });
    };
    const timer = setTimeout(() => {
      error = 'still open';
      s.destroy();
    }, giveUpMs);
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
    });
    s.on('data', (b: Buffer) => got.push(b));
    s.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
    });
    s.on('close', done);
  });
}
