/**
 * A minimal gRPC client for unary calls over node:http2 on a unix socket (how kubelet serves
 * its pod-resources API): one POST per call with the 5-byte message framing, the grpc-timeout
 * header and a local timer, and the grpc-status of the trailers (or of a trailers-only answer).
 * No library: the two calls manifold makes need nothing more.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';

/** gRPC status codes manifold tells apart. */
export const GrpcStatus = { OK: 0, Unimplemented: 12, Unavailable: 14 } as const;

export class GrpcError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'GrpcError';
    this.status = status;
  }
}

const MAX_MESSAGE_BYTES = 16 << 20;

function frame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

function unframe(data: Buffer): Buffer {
  if (data.length < 5) throw new GrpcError(GrpcStatus.Unavailable, 'response has no message');
  if (data[0] !== 0) throw new GrpcError(GrpcStatus.Unavailable, 'compressed responses are not supported');
  const len = data.readUInt32BE(1);
  if (data.length < 5 + len) throw new GrpcError(GrpcStatus.Unavailable, 'response message is truncated');
  return data.subarray(5, 5 + len);
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
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    const finish = (err: Error | undefined, value?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      session.destroy();
      if (err) reject(err);
      else resolve(value as Buffer);
    };
    const timer = setTimeout(
      () => finish(new GrpcError(4, `no answer from ${socket} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    session.on('error', (err) => finish(err));
    const stream = session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.floor(timeoutMs))}m`,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let status: string | undefined;
    let message = '';
    const take = (h: http2.IncomingHttpHeaders) => {
      const s = h['grpc-status'];
      if (s !== undefined) status = String(s);
      const m = h['grpc-message'];
      if (m !== undefined) message = decodeURIComponent(String(m));
    };
    stream.on('response', (headers) => {
      const code = Number(headers[':status']);
      if (code !== 200) finish(new GrpcError(GrpcStatus.Unavailable, `HTTP ${code} from ${socket}`));
      take(headers);
    });
    stream.on('trailers', take);
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_MESSAGE_BYTES)
        finish(new GrpcError(8, `response larger than ${MAX_MESSAGE_BYTES} bytes`));
      else chunks.push(c);
    });
    stream.on('error', (err) => finish(err));
    stream.on('end', () => {
      const code = status === undefined ? GrpcStatus.Unavailable : Number(status);
      if (code !== GrpcStatus.OK) {
        finish(new GrpcError(code, message || `gRPC status ${status ?? 'missing'}`));
        return;
      }
      try {
        finish(undefined, unframe(Buffer.concat(chunks)));
      } catch (err) {
        finish(err as Error);
      }
    });
    stream.end(frame(request));
  });
}
