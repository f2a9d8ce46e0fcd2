/**
 * The pod-resources client against a stand-in kubelet that answers the way real ones do, and
 * the way broken ones do: Get disabled (kubelets 1.27–1.33), malformed grpc-message trailers,
 * garbage protobuf, resets, GOAWAY. Every failure is a rejection (a GrpcError, then a CniError
 * from allocatedDevices), never an exception thrown out of an event handler.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakePodResources, GET_DISABLED } from '../../test/helpers/fake-podresources.ts';
import { scratchDir } from '../../test/helpers/scratch.ts';
import { cniRejectionOf } from '../../test/helpers/skel.ts';
import type { MetaConf } from '../meta/config.ts';
import { DeviceAllocator } from '../meta/pods/device-ids.ts';
import { overrideLog } from '../util/log.ts';
import { Budget } from './client.ts';
import { allocatedDevices } from './devices.ts';
import { GrpcError, unaryCall } from './grpc.ts';
import { GET_METHOD, LIST_METHOD, podResourcesDevices } from './podresources.ts';

const dir = scratchDir('mf-podres-');
const socket = join(dir, 'kubelet.sock');
const kubelet = new FakePodResources(socket);
const NO_CHECKPOINT = join(dir, 'no-such-checkpoint');
const pod = { namespace: 'default', name: 'web', uid: 'u-web' };
const logged: string[] = [];

beforeAll(async () => {
  overrideLog('verbose', 'text', (s) => logged.push(s));
  kubelet.pods = [
    { namespace: 'default', name: 'other', containers: { c: { 'intel.com/sriov': ['0000:01:10.7'] } } },
    {
      namespace: 'default',
      name: 'web',
      containers: { app: { 'intel.com/sriov': ['0000:01:10.3', '0000:01:10.1'] } },
    },
  ];
  await kubelet.start();
});
afterAll(() => kubelet.stop());
afterEach(() => {
  kubelet.getMode = 'enabled';
  kubelet.faults.clear();
  kubelet.calls.length = 0;
  logged.length = 0;
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const sources = (timeoutMs = 2000) => ({ socket, checkpoint: NO_CHECKPOINT, timeoutMs });

describe('Get disabled (kubelet 1.27–1.33, KubeletPodResourcesGet off): List answers', () => {
  it('the stand-in answers Get as such a kubelet does: status 2 UNKNOWN, "PodResources API Get method disabled"', async () => {
    kubelet.getMode = 'disabled';
    const e = await rejection(unaryCall(socket, GET_METHOD, new Uint8Array(0), 2000));
    expect(e).toBeInstanceOf(GrpcError);
    expect(e).toMatchObject({ status: 2, message: GET_DISABLED.message });
  });

  it('an SR-IOV device lookup succeeds through List with no checkpoint file, and the log says List answered', async () => {
    kubelet.getMode = 'disabled';
    const conf = { podResourcesSocket: socket, kubeletCheckpointFile: NO_CHECKPOINT } as MetaConf;
    const alloc = new DeviceAllocator(conf, pod, new Budget(5000));
    expect(await alloc.take('intel.com/sriov', 'default/sriov-a')).toBe('0000:01:10.1');
    expect(await alloc.take('intel.com/sriov', 'default/sriov-b')).toBe('0000:01:10.3');
    expect(kubelet.calls).toEqual([GET_METHOD, LIST_METHOD]);
    const text = logged.join('');
    expect(text).toMatch(/pod-resources Get .*PodResources API Get method disabled.*List/);
    expect(text).toMatch(/pod default\/web: devices from pod-resources List on /);
  });

  it('any other answered status of Get (NotFound, PermissionDenied…) also goes to List', async () => {
    kubelet.faults.set(GET_METHOD, { kind: 'status', status: '7', message: 'denied' });
    const r = await allocatedDevices(sources(), pod);
    expect(r.from).toMatch(/^pod-resources List on /);
    expect(r.devices.get('intel.com/sriov')).toEqual(['0000:01:10.1', '0000:01:10.3']);
  });

  it('a pod that Get does not know and List does not list: the checkpoint, not "no devices"', async () => {
    kubelet.getMode = 'disabled';
    const cp = join(dir, 'checkpoint');
    writeFileSync(
      cp,
      JSON.stringify({
        Data: {
          PodDeviceEntries: [
            {
              PodUID: 'u-new',
              ContainerName: 'app',
              ResourceName: 'intel.com/sriov',
              DeviceIDs: { '0': ['0000:01:10.5'] },
            },
          ],
        },
      }),
    );
    const r = await allocatedDevices(
      { ...sources(), checkpoint: cp },
      { namespace: 'default', name: 'new', uid: 'u-new' },
    );
    expect(r.from).toBe(`checkpoint ${cp}`);
    expect(r.devices.get('intel.com/sriov')).toEqual(['0000:01:10.5']);
    expect(kubelet.calls).toEqual([GET_METHOD, LIST_METHOD]);
  });

  it('a transport failure of Get (no answer in time) is not repeated with List: the checkpoint is next', async () => {
    kubelet.faults.set(GET_METHOD, { kind: 'hang' });
    const e = await cniRejectionOf(allocatedDevices(sources(300), pod));
    expect(e.code).toBe(11);
    expect(e.message).toMatch(/no answer from .* within 300 ms/);
    expect(kubelet.calls).toEqual([GET_METHOD]);
  });

  it('Get that works is used alone', async () => {
    const r = await podResourcesDevices(socket, 'default', 'web', 2000);
    expect(r.method).toBe('Get');
    expect(kubelet.calls).toEqual([GET_METHOD]);
  });
});

describe('broken answers are rejections, never exceptions out of an event handler', () => {
  it.each([
    ['%zz', true],
    ['%', true],
    ['%E2%82', true],
    ['%zz', false],
    ['%', false],
  ])('grpc-message %j (trailers-only: %s) rejects with the raw text', async (message, trailersOnly) => {
    kubelet.faults.set(LIST_METHOD, { kind: 'status', status: '13', message, trailersOnly });
    const e = await rejection(unaryCall(socket, LIST_METHOD, new Uint8Array(0), 2000));
    expect(e).toBeInstanceOf(GrpcError);
    expect((e as GrpcError).status).toBe(13);
    expect((e as GrpcError).message).toContain(message === '%E2%82' ? '\ufffd' : message);
  });

  it('a well-formed percent-encoded grpc-message is decoded', async () => {
    kubelet.faults.set(LIST_METHOD, { kind: 'status', status: '2', message: 'caf%C3%A9 100%25' });
    const e = await rejection(unaryCall(socket, LIST_METHOD, new Uint8Array(0), 2000));
    expect((e as GrpcError).message).toBe('café 100%');
  });

  it('malformed grpc-message on Get falls back to List; on List too: code 11 with the message', async () => {
    kubelet.faults.set(GET_METHOD, { kind: 'status', status: '2', message: '%zz' });
    expect((await allocatedDevices(sources(), pod)).from).toMatch(/List/);
    kubelet.faults.set(LIST_METHOD, { kind: 'status', status: '2', message: 'bad %' });
    const e = await cniRejectionOf(allocatedDevices(sources(), pod));
    expect(e.code).toBe(11);
    expect(e.message).toContain('bad %');
  });

  it('a garbage protobuf answer to Get falls back to List; to List it is code 11', async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0x01, 0x07]);
    kubelet.faults.set(GET_METHOD, { kind: 'body', body: garbage });
    const r = await allocatedDevices(sources(), pod);
    expect(r.from).toMatch(/List/);
    expect(kubelet.calls).toEqual([GET_METHOD, LIST_METHOD]);
    kubelet.faults.set(LIST_METHOD, { kind: 'body', body: garbage });
    const e = await cniRejectionOf(allocatedDevices(sources(), pod));
    expect(e.code).toBe(11);
    expect(e.message).toMatch(/List.*malformed protobuf/);
  });

  it.each([
    ['a truncated frame', { kind: 'body', body: Buffer.from([0, 0, 0, 0, 9, 1]), raw: true }, /truncated/],
    ['a compressed frame', { kind: 'body', body: Buffer.from([1, 0, 0, 0, 0]), raw: true }, /compressed/],
    ['HTTP 503', { kind: 'http', status: 503 }, /HTTP 503/],
    ['no grpc-status', { kind: 'no-status' }, /grpc-status/],
    ['a non-numeric grpc-status', { kind: 'status', status: 'ok', message: 'x' }, /grpc-status/],
    ['RST_STREAM NO_ERROR', { kind: 'reset', code: 0 }, /closed|reset/],
    ['RST_STREAM INTERNAL_ERROR', { kind: 'reset', code: 2 }, /closed|reset|stream/i],
    ['GOAWAY', { kind: 'goaway', code: 0 }, /closed|GOAWAY|reset/],
    ['GOAWAY PROTOCOL_ERROR', { kind: 'goaway', code: 1 }, /closed|GOAWAY|reset|error code 1/],
  ] as const)('%s: a GrpcError, not the timeout', async (_what, fault, msg) => {
    kubelet.faults.set(LIST_METHOD, fault);
    const e = await rejection(unaryCall(socket, LIST_METHOD, new Uint8Array(0), 4000));
    expect(e).toBeInstanceOf(GrpcError);
    expect((e as GrpcError).status).not.toBe(4);
    expect((e as GrpcError).message).toMatch(msg);
  });

  it('a socket that is not a kubelet (nothing listening): a transport GrpcError', async () => {
    const e = await rejection(unaryCall(join(dir, 'nobody.sock'), LIST_METHOD, new Uint8Array(0), 2000));
    expect(e).toBeInstanceOf(GrpcError);
    expect(e).toMatchObject({ status: 14, transport: true });
  });

  it('the process survives a malformed grpc-message and prints the CNI error', () => {
    kubelet.faults.set(GET_METHOD, { kind: 'status', status: '2', message: '%zz' });
    kubelet.faults.set(LIST_METHOD, { kind: 'status', status: '2', message: '%' });
    const script = `
      const { allocatedDevices } = await import(${JSON.stringify(join(import.meta.dirname, 'devices.ts'))});
      try {
        await allocatedDevices(${JSON.stringify(sources())}, ${JSON.stringify(pod)});
        console.log('{"unexpected":"success"}');
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, msg: e.message }));
      }`;
    // the stand-in kubelet lives in this process: the child must not block it
    return new Promise<void>((resolve, reject) => {
      import('node:child_process').then(({ execFile }) =>
        execFile(
          process.execPath,
          ['--input-type=module', '-e', script],
          { timeout: 20_000 },
          (err, stdout, stderr) => {
            try {
              expect(err?.message ?? '', stderr).toBe('');
              expect(JSON.parse(stdout)).toMatchObject({ name: 'CniError', code: 11 });
              resolve();
            } catch (e) {
              reject(e);
            }
          },
        ),
      );
    });
  });
});
