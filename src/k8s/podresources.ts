/**
 * kubelet's pod-resources API (gRPC service `v1.PodResourcesLister` on a unix socket): the
 * devices the device plugins allocated to one pod, by resource name. `Get` asks for that pod
 * only (KubeletPodResourcesGet); when it fails in an answer — a kubelet before 1.27 has no Get
 * (UNIMPLEMENTED), kubelets 1.27–1.33 keep it behind that feature gate, off by default, and
 * answer UNKNOWN "PodResources API Get method disabled"; or a malformed answer — `List` (every
 * pod of the node) is asked instead. A transport failure (refused, reset, timed out, HTTP/2
 * errors) is not: List would meet the same socket. Field numbers are those of
 * k8s.io/kubelet/pkg/apis/podresources/v1/api.proto.
 */
import { describeError } from '../cni/errors.ts';
import { log } from '../util/log.ts';
import { GrpcError, GrpcStatus, unaryCall } from './grpc.ts';
import { lenField, lens, readFields, text } from './protobuf.ts';

export const LIST_METHOD = '/v1.PodResourcesLister/List';
export const GET_METHOD = '/v1.PodResourcesLister/Get';

/** Resource name → device IDs (unsorted, as reported). */
export type DeviceMap = Map<string, string[]>;

// PodResources: name = 1, namespace = 2, containers = 3
// ContainerResources: name = 1, devices = 2
// ContainerDevices: resource_name = 1, device_ids = 2
function addPodResources(msg: Uint8Array, into: DeviceMap): void {
  for (const container of lens(readFields(msg), 3)) {
    for (const dev of lens(readFields(container), 2)) {
      const fields = readFields(dev);
      const resource = fields.find((f) => f.no === 1);
      const name = text(resource?.bytes);
      const ids = lens(fields, 2).map((b) => text(b));
      if (!name) continue;
      into.set(name, [...(into.get(name) ?? []), ...ids]);
    }
  }
}

function podName(msg: Uint8Array): { name: string; namespace: string } {
  const fields = readFields(msg);
  const get = (no: number) => text(fields.find((x) => x.no === no)?.bytes);
  return { name: get(1), namespace: get(2) };
}

/** GetPodResourcesRequest { pod_name = 1, pod_namespace = 2 }. */
export function encodeGetRequest(name: string, namespace: string): Buffer {
  return Buffer.concat([lenField(1, name), lenField(2, namespace)]);
}

/** The devices of pod `namespace/name` in a ListPodResourcesResponse; undefined when the pod is not in it. */
function listedPod(response: Uint8Array, namespace: string, name: string): DeviceMap | undefined {
  let out: DeviceMap | undefined;
  for (const pr of lens(readFields(response), 1)) {
    const id = podName(pr);
    if (id.name !== name || id.namespace !== namespace) continue;
    out ??= new Map();
    addPodResources(pr, out);
  }
  return out;
}

/** The devices of pod `namespace/name` from a ListPodResourcesResponse { repeated PodResources pod_resources = 1 }. */
export function devicesFromList(response: Uint8Array, namespace: string, name: string): DeviceMap {
  return listedPod(response, namespace, name) ?? new Map();
}

/** The devices in a GetPodResourcesResponse { PodResources pod_resources = 1 }. */
export function devicesFromGet(response: Uint8Array): DeviceMap {
  const out: DeviceMap = new Map();
  for (const pr of lens(readFields(response), 1)) addPodResources(pr, out);
  return out;
}

/** Decodes an answer; a malformed one is a GrpcError (INTERNAL) naming the method. */
function decoded<T>(method: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new GrpcError(GrpcStatus.Internal, `${method} answer: ${describeError(err)}`, { cause: err });
  }
}

/** List is given what is left of the call's time, but never less than this. */
const MIN_LIST_MS = 250;

/** The pod's devices: Get, or List when Get failed in an answer (disabled, unimplemented, malformed). */
export async function podResourcesDevices(
  socket: string,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<{ devices: DeviceMap; method: 'Get' | 'List' }> {
  const deadline = performance.now() + timeoutMs;
  try {
    const reply = await unaryCall(socket, GET_METHOD, encodeGetRequest(name, namespace), timeoutMs);
    return { devices: decoded(GET_METHOD, () => devicesFromGet(reply)), method: 'Get' };
  } catch (err) {
    if (!(err instanceof GrpcError) || err.transport) throw err;
    log.info(
      `pod-resources Get on ${socket} for pod ${namespace}/${name} failed (gRPC status ${err.status}: ${describeError(err)}); asking List`,
    );
  }
  const left = Math.max(MIN_LIST_MS, deadline - performance.now());
  const reply = await unaryCall(socket, LIST_METHOD, new Uint8Array(0), left);
  const devices = decoded(LIST_METHOD, () => listedPod(reply, namespace, name));
  // kubelet lists every active pod, devices or not: one it does not know is not one without devices
  if (!devices) throw new GrpcError(5, `pod ${namespace}/${name} is not in the answer of List`);
  return { devices, method: 'List' };
}
