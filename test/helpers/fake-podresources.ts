/**
 * A local gRPC server on a unix socket (node:http2, h2c) playing kubelet's pod-resources API
 * `v1.PodResourcesLister`: List (every pod) and Get (one pod; answered UNIMPLEMENTED when
 * `withGet` is false, as kubelets without the KubeletPodResourcesGet gate do). Responses are
 * encoded with the field numbers of the real api.proto.
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

export class FakePodResources {
  readonly socket: string;
  pods: PodDevices[] = [];
  withGet = true;
  readonly calls: string[] = [];
  #server: Http2Server | undefined;

  constructor(socket: string) {
    this.socket = socket;
  }

  async start(): Promise<void> {
    const server = createServer();
    server.on('stream', (stream, headers) => this.#serve(stream, String(headers[':path'])));
    await new Promise<void>((resolve) => server.listen(this.socket, resolve));
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  #serve(stream: ServerHttp2Stream, path: string): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      this.calls.push(path);
      const body = Buffer.concat(chunks).subarray(5);
      let reply: Buffer | undefined;
      if (path === LIST_METHOD) reply = Buffer.concat(this.pods.map((p) => lenField(1, podResources(p))));
      if (path === GET_METHOD && this.withGet) {
        const f = readFields(body);
        const name = text(lens(f, 1)[0]);
        const ns = text(lens(f, 2)[0]);
        const pod = this.pods.find((p) => p.name === name && p.namespace === ns);
        if (!pod) {
          stream.respond(
            {
              ':status': 200,
              'content-type': 'application/grpc',
              'grpc-status': '5',
              'grpc-message': `pod ${name} not found`,
            },
            { endStream: true },
          );
          return;
        }
        reply = lenField(1, podResources(pod));
      }
      if (!reply) {
        stream.respond(
          {
            ':status': 200,
            'content-type': 'application/grpc',
            'grpc-status': '12',
            'grpc-message': `unknown method ${path.split('/').pop()}`,
          },
          { endStream: true },
        );
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(reply));
    });
  }
}
