/**
 * A small CRI client (`runtime.v1.RuntimeService`) for the runtime tier: what kubelet asks a
 * container runtime to do with a pod sandbox. It reuses manifold's own gRPC-over-http2 client
 * (src/k8s/grpc.ts, kubelet's pod-resources client) and protobuf codec (src/k8s/protobuf.ts):
 * containerd serves CRI on a unix socket, and the messages below are written by hand from
 * k8s.io/cri-api's api.proto (only the fields the tier uses; every other field is skipped
 * when read, as protobuf requires).
 */
import { GrpcError, unaryCall } from '../../src/k8s/grpc.ts';
import { type Field, lenField, lens, readFields, text, varintField } from '../../src/k8s/protobuf.ts';

const SERVICE = '/runtime.v1.RuntimeService';

export interface PortMapping {
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
  readonly containerPort: number;
  readonly hostPort: number;
  readonly hostIp?: string;
}

export interface SandboxConfig {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt?: number;
  readonly hostname?: string;
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  readonly portMappings?: readonly PortMapping[];
  readonly dns?: { servers?: string[]; searches?: string[]; options?: string[] };
  /** linux.cgroup_parent (cgroupfs form, e.g. `/mfcri-abc`). */
  readonly cgroupParent?: string;
}

export interface SandboxStatus {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  /** network.ip and network.additional_ips: what containerd reports as the pod's IPs. */
  readonly ips: string[];
  readonly annotations: Record<string, string>;
  /** The verbose `info` map (containerd: `info` is JSON with pid, runtimeSpec, cniResult…). */
  readonly info: Record<string, string>;
}

export interface SandboxListItem {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
}

export interface RuntimeCondition {
  readonly type: string;
  readonly status: boolean;
  readonly reason: string;
  readonly message: string;
}

const cat = (...parts: Buffer[]) => Buffer.concat(parts);
const str = (no: number, s: string | undefined) => (s ? lenField(no, s) : Buffer.alloc(0));
const num = (no: number, n: number | undefined) => (n ? varintField(no, n) : Buffer.alloc(0));
const mapField = (no: number, m: Record<string, string> | undefined) =>
  cat(...Object.entries(m ?? {}).map(([k, v]) => lenField(no, cat(lenField(1, k), lenField(2, v)))));
const msg = (no: number, payload: Buffer) => lenField(no, payload);

const PROTOCOLS = { TCP: 0, UDP: 1, SCTP: 2 } as const;

/** PodSandboxConfig (api.proto). */
export function encodeSandboxConfig(c: SandboxConfig): Buffer {
  const metadata = cat(str(1, c.name), str(2, c.uid), str(3, c.namespace), num(4, c.attempt));
  const dns = c.dns
    ? cat(
        ...(c.dns.servers ?? []).map((s) => lenField(1, s)),
        ...(c.dns.searches ?? []).map((s) => lenField(2, s)),
        ...(c.dns.options ?? []).map((s) => lenField(3, s)),
      )
    : undefined;
  const ports = (c.portMappings ?? []).map((p) =>
    msg(
      5,
      cat(
        num(1, PROTOCOLS[p.protocol ?? 'TCP']),
        num(2, p.containerPort),
        num(3, p.hostPort),
        str(4, p.hostIp),
      ),
    ),
  );
  // LinuxPodSandboxConfig: cgroup_parent = 1, security_context = 2 (namespace_options = 2:
  // network = 1, POD = 0, the default)
  const linux = cat(str(1, c.cgroupParent));
  return cat(
    msg(1, metadata),
    str(2, c.hostname ?? c.name),
    ...(dns ? [msg(4, dns)] : []),
    ...ports,
    mapField(6, c.labels),
    mapField(7, c.annotations),
    msg(8, linux),
  );
}

function readMap(fields: readonly Field[], no: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of lens(fields, no)) {
    const f = readFields(entry);
    out[text(lens(f, 1)[0])] = text(lens(f, 2)[0]);
  }
  return out;
}

const varintOf = (fields: readonly Field[], no: number): number =>
  fields.find((f) => f.no === no && f.value !== undefined)?.value ?? 0;

function readMetadata(buf: Uint8Array | undefined): { name: string; uid: string; namespace: string } {
  const f = readFields(buf ?? new Uint8Array());
  return { name: text(lens(f, 1)[0]), uid: text(lens(f, 2)[0]), namespace: text(lens(f, 3)[0]) };
}

const STATES = ['SANDBOX_READY', 'SANDBOX_NOTREADY'] as const;
const stateOf = (n: number) => STATES[n] ?? 'SANDBOX_NOTREADY';

export class CriClient {
  readonly socket: string;
  /** Per call; RunPodSandbox includes every CNI ADD, so it gets kubelet's own 4 minutes' worth. */
  timeoutMs: number;

  constructor(socket: string, timeoutMs = 120_000) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
  }

  #call(method: string, request: Buffer): Promise<Buffer> {
    return unaryCall(this.socket, `${SERVICE}/${method}`, request, this.timeoutMs);
  }

  async runPodSandbox(config: SandboxConfig, runtimeHandler = ''): Promise<string> {
    const reply = await this.#call(
      'RunPodSandbox',
      cat(msg(1, encodeSandboxConfig(config)), str(2, runtimeHandler)),
    );
    return text(lens(readFields(reply), 1)[0]);
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.#call('StopPodSandbox', lenField(1, id));
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.#call('RemovePodSandbox', lenField(1, id));
  }

  async podSandboxStatus(id: string, verbose = true): Promise<SandboxStatus> {
    const reply = readFields(
      await this.#call('PodSandboxStatus', cat(lenField(1, id), num(2, verbose ? 1 : 0))),
    );
    const status = readFields(lens(reply, 1)[0] ?? new Uint8Array());
    const meta = readMetadata(lens(status, 2)[0]);
    const network = readFields(lens(status, 5)[0] ?? new Uint8Array());
    const ips = [
      text(lens(network, 1)[0]),
      ...lens(network, 2).map((p) => text(lens(readFields(p), 1)[0])),
    ].filter((ip) => ip !== '');
    return {
      id: text(lens(status, 1)[0]),
      ...meta,
      state: stateOf(varintOf(status, 3)),
      ips,
      annotations: readMap(status, 8),
      info: readMap(reply, 2),
    };
  }

  async listPodSandbox(): Promise<SandboxListItem[]> {
    const reply = readFields(await this.#call('ListPodSandbox', Buffer.alloc(0)));
    return lens(reply, 1).map((item) => {
      const f = readFields(item);
      const meta = readMetadata(lens(f, 2)[0]);
      return {
        id: text(lens(f, 1)[0]),
        name: meta.name,
        namespace: meta.namespace,
        state: stateOf(varintOf(f, 3)),
      };
    });
  }

  /** Status: the runtime's conditions (RuntimeReady, NetworkReady). */
  async status(): Promise<RuntimeCondition[]> {
    return (await this.statusVerbose()).conditions;
  }

  /**
   * Status with verbose info (containerd: `cniconfig`, the CNI config it has loaded, as JSON;
   * `lastCNILoadStatus`).
   */
  async statusVerbose(): Promise<{ conditions: RuntimeCondition[]; info: Record<string, string> }> {
    const reply = readFields(await this.#call('Status', varintField(1, 1)));
    const runtime = readFields(lens(reply, 1)[0] ?? new Uint8Array());
    const conditions = lens(runtime, 1).map((c) => {
      const f = readFields(c);
      return {
        type: text(lens(f, 1)[0]),
        status: varintOf(f, 2) === 1,
        reason: text(lens(f, 3)[0]),
        message: text(lens(f, 4)[0]),
      };
    });
    return { conditions, info: readMap(reply, 2) };
  }

  /** The network names of the CNI config containerd has loaded (loopback first), from verbose Status. */
  async loadedNetworks(): Promise<string[]> {
    const raw = (await this.statusVerbose()).info.cniconfig ?? '{}';
    const conf = JSON.parse(raw) as { Networks?: { Config?: { Name?: string } }[] };
    return (conf.Networks ?? []).map((n) => n.Config?.Name ?? '');
  }

  /** NetworkReady's condition. */
  async networkReady(): Promise<RuntimeCondition | undefined> {
    return (await this.status()).find((c) => c.type === 'NetworkReady');
  }
}

export { GrpcError };
