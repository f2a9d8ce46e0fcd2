/**
 * A minimal gRPC client for unary calls over node:http2 on a unix socket (how kubelet serves
 * its pod-resources API): one POST per call with the 5-byte message framing, the grpc-timeout
 * header and a local timer, and the grpc-status of the trailers (or of a trailers-only answer).
 * No library: the two calls manifold makes need nothing more.
 *
 * Every outcome is the returned promise, settled once: nothing is thrown out of an event
 * handler (a throw there is an uncaught exception that kills the process with nothing on
 * stdout). Failures are GrpcErrors, `transport` telling a connection that failed (refused,
 * reset, timed out, HTTP/2 errors, GOAWAY) from a server that answered with an error.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { describeError, q } from '../cni/errors.ts';

/** gRPC status codes manifold tells apart. */
export const GrpcStatus = {
  OK: 0,
  Unknown: 2,
  DeadlineExceeded: 4,
  ResourceExhausted: 8,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

export class GrpcError extends Error {
  readonly status: number;
  /** The call failed on the way (no answer, a broken connection), not in an answer of the server. */
  readonly transport: boolean;

  constructor(status: number, message: string, options?: { transport?: boolean; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GrpcError';
    this.status = status;
    this.transport = options?.transport ?? false;
  }
}

const MAX_MESSAGE_BYTES = 16 << 20;

function frame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

function unframe(data: Buffer): Buffer {
  if (data.length < 5) throw new GrpcError(GrpcStatus.Internal, 'response has no message');
  if (data[0] !== 0) throw new GrpcError(GrpcStatus.Internal, 'compressed responses are not supported');
  const len = data.readUInt32BE(1);
  if (data.length < 5 + len) throw new GrpcError(GrpcStatus.Internal, 'response message is truncated');
  return data.subarray(5, 5 + len);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * A grpc-message header as the gRPC spec says to read it: `%XX` sequences are bytes of UTF-8,
 * anything else (a lone `%`, `%zz`, bytes that are not UTF-8) is kept as it came, never an error.
 */
export function decodeGrpcMessage(raw: string): string {
  if (!raw.includes('%')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = raw.slice(i + 1, i + 3);
    if (raw[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(raw[i] ?? '', 'utf8')) bytes.push(b);
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}

/** A grpc-status header: a number 0–16, or undefined when missing or malformed. */
function statusOf(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || !/^\d{1,2}$/.test(s.trim())) return undefined;
  const n = Number(s.trim());
  return n <= 16 ? n : undefined;
}

/** The gRPC status of an HTTP answer other than 200 (the spec's mapping). */
function httpStatus(code: number): number {
  if (code === 400) return GrpcStatus.Internal;
  if (code === 401) return 16;
  if (code === 403) return 7;
  if (code === 404) return GrpcStatus.Unimplemented;
  if (code === 429 || code === 502 || code === 503 || code === 504) return GrpcStatus.Unavailable;
  return GrpcStatus.Unknown;
}

/** Calls `method` (`/package.Service/Method`) on the server at unix socket `socket`. */
export function unaryCall(
  socket: string,
  method: string,
  request: Uint8Array,
  timeoutMs: number,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    let session: http2.ClientHttp2Session | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | undefined, value?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        session?.destroy();
      } catch {
        // already gone
      }
      if (err) reject(err);
      else resolve(value as Buffer);
    };
    /** A failure of the connection (not an answer): a transport GrpcError naming the socket. */
    const broken = (what: string, cause?: unknown) =>
      finish(
        cause instanceof GrpcError
          ? cause
          : new GrpcError(
              GrpcStatus.Unavailable,
              `${socket}: ${what}${cause === undefined ? '' : `: ${describeError(cause)}`}`,
              { transport: true, cause },
            ),
      );
    /** Runs an event handler; whatever it throws settles the call instead of escaping. */
    const guard =
      <A extends unknown[]>(fn: (...args: A) => void) =>
      (...args: A): void => {
        try {
          fn(...args);
        } catch (err) {
          finish(
            err instanceof GrpcError
              ? err
              : new GrpcError(GrpcStatus.Internal, `${method}: ${describeError(err)}`, { cause: err }),
          );
        }
      };
    timer = setTimeout(
      () =>
        finish(
          new GrpcError(GrpcStatus.DeadlineExceeded, `no answer from ${socket} within ${timeoutMs} ms`, {
            transport: true,
          }),
        ),
      timeoutMs,
    );
    try {
      session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
      session.on(
        'error',
        guard((err: Error) => broken('connection failed', err)),
      );
      session.on(
        'close',
        guard(() => broken('the connection closed before an answer')),
      );
      const stream = session.request({
        ':method': 'POST',
        ':path': method,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.floor(timeoutMs))}m`,
      });
      // a GOAWAY that leaves this stream out, or says something went wrong, is the end of the
      // call (a graceful one that includes it lets the answer finish)
      session.on(
        'goaway',
        guard((code: number, lastStreamId: number) => {
          if (code !== 0 || stream.id === undefined || lastStreamId < stream.id)
            broken(`the server closed the connection (GOAWAY, HTTP/2 error code ${code})`);
        }),
      );
      const chunks: Buffer[] = [];
      let answered = false;
      let size = 0;
      let httpCode = 200;
      let status: number | undefined;
      let rawStatus: string | undefined;
      let message = '';
      const take = (h: http2.IncomingHttpHeaders) => {
        const s = h['grpc-status'];
        if (s !== undefined) {
          rawStatus = String(s);
          status = statusOf(s);
        }
        const m = h['grpc-message'];
        if (m !== undefined) message = decodeGrpcMessage(String(m));
      };
      stream.on(
        'response',
        guard((headers: http2.IncomingHttpHeaders) => {
          answered = true;
          httpCode = Number(headers[':status']);
          take(headers);
        }),
      );
      stream.on('trailers', guard(take));
      stream.on(
        'data',
        guard((c: Buffer) => {
          size += c.length;
          if (size > MAX_MESSAGE_BYTES)
            finish(
              new GrpcError(GrpcStatus.ResourceExhausted, `response larger than ${MAX_MESSAGE_BYTES} bytes`),
            );
          else chunks.push(c);
        }),
      );
      stream.on(
        'error',
        guard((err: Error) => broken(`${method} failed`, err)),
      );
      stream.on(
        'end',
        guard(() => {
          if (!answered) {
            broken(
              stream.rstCode !== undefined
                ? `${method}: the stream was reset (HTTP/2 error code ${stream.rstCode}) before an answer`
                : `${method}: the stream ended before an answer`,
            );
            return;
          }
          if (httpCode !== 200 && status === undefined) {
            finish(new GrpcError(httpStatus(httpCode), `HTTP ${httpCode} from ${socket}`));
            return;
          }
          if (status === undefined) {
            finish(
              new GrpcError(
                GrpcStatus.Unknown,
                rawStatus === undefined
                  ? `${method}: the answer has no grpc-status`
                  : `${method}: malformed grpc-status ${q(rawStatus)}${message ? `: ${message}` : ''}`,
              ),
            );
            return;
          }
          if (status !== GrpcStatus.OK) {
            finish(new GrpcError(status, message || `gRPC status ${status}`));
            return;
          }
          finish(undefined, unframe(Buffer.concat(chunks)));
        }),
      );
      // after 'end' when it all went well; alone when the stream was reset (even with NO_ERROR)
      stream.on(
        'close',
        guard(() => {
          if (settled) return;
          broken(
            stream.rstCode !== undefined
              ? `${method}: the stream was reset (HTTP/2 error code ${stream.rstCode}) before an answer`
              : `${method}: the stream closed before an answer`,
          );
        }),
      );
      stream.end(frame(request));
    } catch (err) {
      broken('cannot call', err);
    }
  });
}
