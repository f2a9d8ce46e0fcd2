/**
 * A local gRPC server on a unix socket (node:http2, h2c) playing kubelet's pod-resources API
 * `v1.PodResourcesLister`: List (every pod) and Get (one pod). How Get answers is `getMode`:
 * `enabled`; `unimplemented` (status 12, as kubelets before 1.27 that have no Get at all);
 * `disabled` (status 2 UNKNOWN "PodResources API Get method disabled", as kubelets 1.27–1.33
 * do while the KubeletPodResourcesGet feature gate is off, its default). `faults` replaces the
 * answer of one method with a broken one (a malformed grpc-message, a garbage body, a reset…)
 * for the fault tests. Responses are encoded with the field numbers of the real api.proto.
 */
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { GET_METHOD, LIST_METHOD } from '../../src/k8s/podresources.ts';
import { lenField, lens, readFields, text } from '../../src/k8s/protobuf.ts';

export interface PodDevices {
  readonly namespace: string;
  readonly name: string;
  /** container name → resource → device IDs */
  readonly containers: Record<string, Record<string, string[]>>;
}

/** What a kubelet 1.27–1.33 answers to Get while KubeletPodResourcesGet is off (grpc-go status of a plain Go error). */
export const GET_DISABLED = { status: '2', message: 'PodResources API Get method disabled' } as const;

/** A broken answer to one method. Header values are sent as given (not percent-encoded). */
export type Fault =
  /** grpc-status and a raw grpc-message, in a trailers-only answer or in the trailers after an empty body */
  | {
      readonly kind: 'status';
      readonly status: string;
      readonly message: string;
      readonly trailersOnly?: boolean;
    }
  /** a raw body (framed unless `raw`) and grpc-status 0 */
  | { readonly kind: 'body'; readonly body: Buffer; readonly raw?: boolean }
  /** no answer at all */
  | { readonly kind: 'hang' }
  /** RST_STREAM with this HTTP/2 error code (0: NO_ERROR) */
  | { readonly kind: 'reset'; readonly code: number }
  /** GOAWAY (with this error code) on the session before answering */
  | { readonly kind: 'goaway'; readonly code: number }
  /** an HTTP status other than 200, no grpc-status */
  | { readonly kind: 'http'; readonly status: number }
  /** a 200 and a message, but the stream ends without any grpc-status */
  | { readonly kind: 'no-status' };

function podResources(p: PodDevices): Buffer {
  const containers = Object.entries(p.containers).map(([cname, resources]) =>
    lenField(
      3,
      Buffer.concat([
        lenField(1, cname),
        ...Object.entries(resources).map(([r, ids]) =>
          lenField(2, Buffer.concat([lenField(1, r), ...ids.map((id) => lenField(2, id))])),
        ),
      ]),
    ),
  );
  return Buffer.concat([lenField(1, p.name), lenField(2, p.namespace), ...containers]);
}

const frame = (m: Buffer) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(m.length, 1);
  return Buffer.concat([h, m]);
};

const GRPC = { ':status': 200, 'content-type': 'application/grpc' } as const;

export class FakePodResources {
  readonly socket: string;
  pods: PodDevices[] = [];
  getMode: 'enabled' | 'unimplemented' | 'disabled' = 'enabled';
  /** Method path (GET_METHOD, LIST_METHOD) → the broken answer it gets instead of its own. */
  readonly faults = new Map<string, Fault>();
  readonly calls: string[] = [];
  #server: Http2Server | undefined;

  constructor(socket: string) {
    this.socket = socket;
  }

  /** false: Get answers UNIMPLEMENTED (kubelets without Get). */
  get withGet(): boolean {
    return this.getMode === 'enabled';
  }

  set withGet(on: boolean) {
    this.getMode = on ? 'enabled' : 'unimplemented';
  }

  async start(): Promise<void> {
    const server = createServer();
    server.on('stream', (stream, headers) => this.#serve(stream, String(headers[':path'])));
    // a peer that went away mid-answer is not the fake's failure
    server.on('sessionError', () => undefined);
    server.on('session', (s) => s.on('error', () => undefined));
    await new Promise<void>((resolve) => server.listen(this.socket, resolve));
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  #status(stream: ServerHttp2Stream, status: string, message: string, trailersOnly = true): void {
    if (trailersOnly) {
      stream.respond({ ...GRPC, 'grpc-status': status, 'grpc-message': message }, { endStream: true });
      return;
    }
    stream.respond(GRPC, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': status, 'grpc-message': message }));
    stream.end();
  }

  #ok(stream: ServerHttp2Stream, body: Buffer): void {
    stream.respond(GRPC, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(body);
  }

  #fault(stream: ServerHttp2Stream, f: Fault): void {
    switch (f.kind) {
      case 'status':
        this.#status(stream, f.status, f.message, f.trailersOnly ?? true);
        return;
      case 'body':
        this.#ok(stream, f.raw ? f.body : frame(f.body));
        return;
      case 'hang':
        return;
      case 'reset':
        stream.close(f.code);
        return;
      case 'goaway':
        stream.session?.goaway(f.code, 0);
        stream.session?.destroy();
        return;
      case 'http':
        stream.respond({ ':status': f.status }, { endStream: true });
        return;
      case 'no-status':
        stream.respond(GRPC);
        stream.end(frame(Buffer.alloc(0)));
        return;
    }
  }

  #serve(stream: ServerHttp2Stream, path: string): void {
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      this.calls.push(path);
      const fault = this.faults.get(path);
      if (fault) {
        this.#fault(stream, fault);
        return;
      }
      const body = Buffer.concat(chunks).subarray(5);
      if (path === GET_METHOD && this.getMode === 'disabled') {
        this.#status(stream, GET_DISABLED.status, GET_DISABLED.message);
        return;
      }
      let reply: Buffer | undefined;
      if (path === LIST_METHOD) reply = Buffer.concat(this.pods.map((p) => lenField(1, podResources(p))));
      if (path === GET_METHOD && this.getMode === 'enabled') {
        const f = readFields(body);
        const name = text(lens(f, 1)[0]);
        const ns = text(lens(f, 2)[0]);
        const pod = this.pods.find((p) => p.name === name && p.namespace === ns);
        if (!pod) {
          this.#status(stream, '5', `pod ${name} not found`);
          return;
        }
        reply = lenField(1, podResources(pod));
      }
      if (!reply) {
        this.#status(stream, '12', `unknown method ${path.split('/').pop()}`);
        return;
      }
      this.#ok(stream, frame(reply));
    });
  }
}
