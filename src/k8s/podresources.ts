/**
 * kubelet's pod-resources API (gRPC service `v1.PodResourcesLister` on a unix socket): the
 * devices the device plugins allocated to one pod, by resource name. `Get` asks for that pod
 * only (KubeletPodResourcesGet); a kubelet without it answers UNIMPLEMENTED and `List` (every
 * pod of the node) is used instead. Field numbers are those of
 * k8s.io/kubelet/pkg/apis/podresources/v1/api.proto.
 */
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

/** The devices of pod `namespace/name` from a ListPodResourcesResponse { repeated PodResources pod_resources = 1 }. */
export function devicesFromList(response: Uint8Array, namespace: string, name: string): DeviceMap {
  const out: DeviceMap = new Map();
  for (const pr of lens(readFields(response), 1)) {
    const id = podName(pr);
    if (id.name === name && id.namespace === namespace) addPodResources(pr, out);
  }
  return out;
}

/** The devices in a GetPodResourcesResponse { PodResources pod_resources = 1 }. */
export function devicesFromGet(response: Uint8Array): DeviceMap {
  const out: DeviceMap = new Map();
  for (const pr of lens(readFields(response), 1)) addPodResources(pr, out);
  return out;
}

/** The pod's devices: Get, or List when this kubelet has no Get. */
export async function podResourcesDevices(
  socket: string,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<{ devices: DeviceMap; method: 'Get' | 'List' }> {
  try {
    const reply = await unaryCall(socket, GET_METHOD, encodeGetRequest(name, namespace), timeoutMs);
    return { devices: devicesFromGet(reply), method: 'Get' };
  } catch (err) {
    if (!(err instanceof GrpcError) || err.status !== GrpcStatus.Unimplemented) throw err;
  }
  const reply = await unaryCall(socket, LIST_METHOD, new Uint8Array(0), timeoutMs);
  return { devices: devicesFromList(reply, namespace, name), method: 'List' };
}
