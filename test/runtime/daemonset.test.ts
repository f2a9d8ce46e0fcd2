/**
 * deploy/'s DaemonSet, as far as this machine can go (issue 20): no kubelet and no image
 * builder here, so
 * - its commands run as processes, exactly as the manifest writes them (the image's
 *   `/manifold` is dist/bin/manifold, the Containerfile's COPY; each hostPath is a directory
 *   of the runtime tier's containerd), in containerd's mount namespace with the in-cluster
 *   environment a pod gets (KUBERNETES_SERVICE_HOST/PORT, the service-account token and CA
 *   under /var/run/secrets), against the API stand-in enforcing deploy/rbac.yaml: the init
 *   step installs, containerd picks the config up and runs a pod through it, the main
 *   container (`--watch`) follows a rotated token, preStop keeps the config while the
 *   DaemonSet exists and removes it once it is deleted, SIGTERM ends the main container;
 * - what cannot run (image, mounts, downward API, service account) is checked statically
 *   against what the commands need: paths under mounts, hostPath = mountPath, the env the
 *   preStop reads, the service account bound to the ClusterRole, the Containerfile's path;
 * - every manifest is validated against the Kubernetes schemas offline (the npm package
 *   kubernetes-models: its bundled OpenAPI schemas, no API server), and the example NADs
 *   against deploy/crd.yaml's own openAPIV3Schema.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { isolateHost } from '../helpers/host.ts';
import { BIN, Node, PRIMARY_FILE, PRIMARY_NAME, WRAPPER_NAME } from './node.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifests as parsed YAML, walked by the assertions
type Obj = Record<string, any>;

const docs = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);
const DEPLOY = [
  'deploy/crd.yaml',
  'deploy/rbac.yaml',
  'deploy/daemonset.yaml',
  'deploy/daemonset-daemon.yaml',
];
const ds = docs('deploy/daemonset.yaml').find((d) => d.kind === 'DaemonSet') as Obj;
const rbac = docs('deploy/rbac.yaml');
const pod = ds.spec.template.spec as Obj;
const init = pod.initContainers[0] as Obj;
const main = pod.containers[0] as Obj;
/** The image's entrypoint file (the Containerfile's COPY destination). */
const IMAGE_BINARY = /^COPY\s+dist\/bin\/manifold\s+(\S+)$/m.exec(
  readFileSync('deploy/Containerfile', 'utf8'),
)?.[1];

const node = new Node(isolateHost());
let watch: ChildProcess | undefined;

beforeAll(async () => {
  await node.setUp();
  // this node has no kubeconfig yet: the DaemonSet's init step writes it
  rmSync(join(node.confDir, 'manifold.d'), { recursive: true, force: true });
}, 120_000);
afterAll(async () => {
  if (watch && watch.exitCode === null) watch.kill('SIGKILL');
  node.printTimings();
  await node.tearDown();
}, 120_000);

/** A hostPath of the manifest → this node's directory. */
function hostDir(hostPath: string): string {
  const map: Record<string, string> = { '/opt/cni/bin': node.binDir, '/etc/cni/net.d': node.confDir };
  const dir = map[hostPath];
  if (!dir) throw new Error(`the DaemonSet mounts hostPath ${hostPath}, which this test does not map`);
  return dir;
}

/** A container's mounts: mountPath → the node's directory (through its volume's hostPath). */
function mounts(c: Obj): [string, string][] {
  return (c.volumeMounts as Obj[]).map((m) => {
    const v = (pod.volumes as Obj[]).find((x) => x.name === m.name);
    return [m.mountPath as string, hostDir(v?.hostPath?.path)];
  });
}

/** A container's command with the image's binary and the mounted paths as on this node. */
function asProcess(c: Obj, command: string[]): [string, string[]] {
  const m = mounts(c);
  const map = (s: string) => {
    for (const [from, to] of m) {
      if (s === from || s.startsWith(`${from}/`)) return to + s.slice(from.length);
      const eq = s.indexOf(`=${from}`);
      if (eq > 0 && (s.length === eq + 1 + from.length || s[eq + 1 + from.length] === '/'))
        return s.slice(0, eq + 1) + to + s.slice(eq + 1 + from.length);
    }
    return s;
  };
  const [file, ...args] = command;
  if (file !== IMAGE_BINARY) throw new Error(`${c.name} runs ${file}, not the image's ${IMAGE_BINARY}`);
  return [BIN, args.map(map)];
}

/** What a pod of this DaemonSet gets: the in-cluster environment and its env entries. */
function podEnv(c: Obj): Record<string, string> {
  const env: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: String(node.api.port),
  };
  for (const e of (c.env ?? []) as Obj[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ds.metadata.namespace;
    else throw new Error(`env ${e.name}: a source this test does not know`);
  }
  return env;
}

/** The service account's files, where the kubelet mounts them (containerd's private /run). */
function serviceAccount(token: string): void {
  const dir = join(node.containerd.run, 'secrets/kubernetes.io/serviceaccount');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.crt'), node.api.pki.ca);
  writeFileSync(join(dir, 'namespace'), ds.metadata.namespace);
  writeFileSync(join(dir, '.token.tmp'), token);
  // atomically, as the kubelet's projected volume does
  renameSync(join(dir, '.token.tmp'), join(dir, 'token'));
}

describe('the DaemonSet, statically', () => {
  it('runs the image binary; every path a command uses is under a mount whose hostPath is the same path', () => {
    expect(IMAGE_BINARY).toBe('/manifold');
    expect(readFileSync('deploy/Containerfile', 'utf8')).toMatch(
      new RegExp(`^ENTRYPOINT \\["${IMAGE_BINARY}"\\]$`, 'm'),
    );
    const preStop = main.lifecycle.preStop.exec.command as string[];
    for (const [c, command] of [
      [init, init.command],
      [main, main.command],
      [main, preStop],
    ] as [Obj, string[]][]) {
      expect(command[0]).toBe(IMAGE_BINARY);
      const paths = command.flatMap((a) => /^--(?:bin-dir|conf-dir|kubeconfig)=(.+)$/.exec(a)?.[1] ?? []);
      expect(paths.length).toBeGreaterThan(0);
      for (const p of paths) {
        const m = (c.volumeMounts as Obj[]).find((v) => p === v.mountPath || p.startsWith(`${v.mountPath}/`));
        expect(m, `${c.name}: ${p} is under no volumeMount`).toBeDefined();
        const vol = (pod.volumes as Obj[]).find((v) => v.name === m?.name);
        // paths written into configs are the node's: hostPath = mountPath
        expect(vol?.hostPath?.path).toBe(m?.mountPath);
      }
      // install writes into its mounts (root, privileged)
      expect(c.securityContext?.privileged).toBe(true);
    }
    // init and main container install the same way; preStop removes from the same conf dir
    expect(main.command.slice(0, -1)).toEqual(init.command);
    expect(main.command.at(-1)).toBe('--watch');
    expect(preStop).toEqual([
      IMAGE_BINARY,
      'uninstall',
      init.command.find((a: string) => a.startsWith('--conf-dir=')),
      '--if-daemonset-deleted',
    ]);
    // preStop asks about this DaemonSet: its name and namespace reach it
    const env = Object.fromEntries((main.env as Obj[]).map((e) => [e.name, e]));
    expect(env.MANIFOLD_DAEMONSET_NAME?.value).toBe(ds.metadata.name);
    expect(env.MANIFOLD_DAEMONSET_NAMESPACE?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    // the grace period leaves preStop time for its one request (3 s per request)
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5);
  });

  it("runs as a service account bound to deploy/rbac.yaml's ClusterRole (daemon mode too)", () => {
    const daemonMode = docs('deploy/daemonset-daemon.yaml').find((d) => d.kind === 'DaemonSet') as Obj;
    expect(daemonMode.spec.template.spec.serviceAccountName).toBe(pod.serviceAccountName);
    expect(daemonMode.metadata).toEqual(ds.metadata);
    const sa = rbac.find((d) => d.kind === 'ServiceAccount') as Obj;
    const role = rbac.find((d) => d.kind === 'ClusterRole') as Obj;
    const binding = rbac.find((d) => d.kind === 'ClusterRoleBinding') as Obj;
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(sa.metadata.namespace).toBe(ds.metadata.namespace);
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: role.metadata.name,
    });
    expect(binding.subjects).toContainEqual({
      kind: 'ServiceAccount',
      name: sa.metadata.name,
      namespace: sa.metadata.namespace,
    });
  });

  it('every manifest is valid against the Kubernetes schemas (offline), the example NADs against the CRD', async () => {
    const models = await kubernetesModels();
    const kinds: Record<string, string> = {
      'v1/ServiceAccount': 'v1/ServiceAccount',
      'rbac.authorization.k8s.io/v1/ClusterRole': 'rbac.authorization.k8s.io/v1/ClusterRole',
      'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
      'apps/v1/DaemonSet': 'apps/v1/DaemonSet',
      'apiextensions.k8s.io/v1/CustomResourceDefinition': 'apiextensions.k8s.io/v1/CustomResourceDefinition',
    };
    const seen: string[] = [];
    for (const file of DEPLOY) {
      for (const d of docs(file)) {
        const key = `${d.apiVersion}/${d.kind}`;
        const model = kinds[key];
        expect(model, `${file}: ${key} has no schema here`).toBeDefined();
        const Cls = await models(model as string);
        expect(() => new Cls(d).validate(), `${file}: ${key} ${d.metadata?.name}`).not.toThrow();
        seen.push(`${key} ${d.metadata.name}`);
      }
    }
    expect(seen.length).toBe(6);
    // the validator is real: a broken DaemonSet fails
    const Ds = await models('apps/v1/DaemonSet');
    const broken = structuredClone(ds);
    broken.spec.template.spec.containers[0].resources.limits.memory = 'lots';
    delete broken.spec.selector;
    expect(() => new Ds(broken).validate()).toThrow(/selector|quantity/);
    // the example NADs against deploy/crd.yaml's openAPIV3Schema
    const crd = docs('deploy/crd.yaml')[0] as Obj;
    const schema = crd.spec.versions[0].schema.openAPIV3Schema as Obj;
    for (const f of readdirSync('conf.d-examples/nad')) {
      for (const nad of docs(join('conf.d-examples/nad', f))) {
        expect(`${nad.apiVersion} ${nad.kind}`).toBe(
          `${crd.spec.group}/${crd.spec.versions[0].name} ${crd.spec.names.kind}`,
        );
        expect(schemaErrors(schema, nad), f).toEqual([]);
        JSON.parse(nad.spec.config); // a CNI config in JSON
      }
    }
  });
});

describe('the DaemonSet, its commands as processes on this node', () => {
  it('the init step installs with the in-cluster kubeconfig; containerd runs a pod through it', async () => {
    node.api.tokens.add('sa-token-1');
    serviceAccount('sa-token-1');
    await node.loaded(PRIMARY_NAME);
    const [file, args] = asProcess(init, init.command);
    const r = node.containerd.exec(file, args, podEnv(init));
    expect(r.code, r.err).toBe(0);
    const kubeconfig = join(node.confDir, 'manifold.d/manifold.kubeconfig');
    expect(r.out).toContain(`kubeconfig: ${kubeconfig} for https://127.0.0.1:${node.api.port} (written)`);
    expect(readFileSync(join(node.confDir, 'manifold.d/token'), 'utf8')).toBe('sa-token-1');
    await node.loaded(WRAPPER_NAME);
    const conf = JSON.parse(readFileSync(join(node.confDir, '00-manifold.conflist'), 'utf8'));
    expect(conf.plugins[0].kubeconfig).toBe(kubeconfig);

    const p = await node.runPod('ds-pod', { networks: 'data' });
    const status = JSON.parse(
      node.api.annotation('default', 'ds-pod', 'k8s.v1.cni.cncf.io/network-status') ?? '[]',
    );
    expect(status.map((s: Obj) => s.interface)).toEqual(['eth0', 'net1']);
    expect(node.api.log.filter((l) => l.auth === 'token:sa-token-1').length).toBeGreaterThan(0);
    await node.stopAndRemove(p);
  });

  it('the main container keeps the token fresh (a rotated token works without a restart)', async () => {
    const [file, args] = asProcess(main, main.command);
    watch = node.containerd.spawnInside(file, args, podEnv(main));
    let out = '';
    watch.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    watch.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    await until(
      () => /watching/.test(out),
      15_000,
      () => out,
    );
    // the kubelet rotates the service-account token; the old one stops working
    node.api.tokens.add('sa-token-2');
    serviceAccount('sa-token-2');
    node.api.tokens.delete('sa-token-1');
    const t0 = performance.now();
    await until(
      () => readFileSync(join(node.confDir, 'manifold.d/token'), 'utf8') === 'sa-token-2',
      25_000,
      () => out,
    );
    console.log(`install --watch copied the rotated token in ${(performance.now() - t0).toFixed(0)} ms`);
    const p = await node.runPod('ds-pod2', { networks: 'data' });
    expect(node.api.annotation('default', 'ds-pod2', 'k8s.v1.cni.cncf.io/network-status')).toContain('net1');
    await node.stopAndRemove(p);
    expect(watch.exitCode).toBeNull();
  }, 60_000);

  it('preStop keeps the config while the DaemonSet exists, removes it once it is deleted; SIGTERM ends the main container', async () => {
    const preStop = main.lifecycle.preStop.exec.command as string[];
    const [file, args] = asProcess(main, preStop);
    const key = `${ds.metadata.namespace}/${ds.metadata.name}`;
    // a rolling update: the DaemonSet is there
    node.api.daemonSets.set(key, { metadata: { name: ds.metadata.name, namespace: ds.metadata.namespace } });
    const kept = await node.containerd.execAsync(file, args, podEnv(main));
    expect(kept.code, kept.err).toBe(0);
    console.log(`preStop while the DaemonSet exists: ${kept.out}${kept.err}`);
    expect(existsSync(join(node.confDir, '00-manifold.conflist'))).toBe(true);
    // the DaemonSet is deleted (404)
    node.api.daemonSets.delete(key);
    const removed = await node.containerd.execAsync(file, args, podEnv(main));
    console.log(`preStop once the DaemonSet is deleted: ${removed.out}${removed.err}`);
    expect(removed.code, removed.err).toBe(0);
    expect(existsSync(join(node.confDir, '00-manifold.conflist'))).toBe(false);
    await node.loaded(PRIMARY_NAME);
    // then the container gets SIGTERM, within terminationGracePeriodSeconds
    const w = watch as ChildProcess;
    const exited = new Promise<number | null>((resolve) => w.once('exit', (code) => resolve(code)));
    w.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('timeout'), pod.terminationGracePeriodSeconds * 1000)),
    ]);
    expect(code).toBe(0);
    // --watch never re-creates what uninstall removed; the node is its primary's again
    expect(readdirSync(node.confDir).sort()).toEqual([PRIMARY_FILE, 'manifold.d']);
    const p = await node.runPod('ds-after', { networks: 'data' });
    await node.stopAndRemove(p);
    expect(await node.leftoversWithSandboxes()).toMatchObject({
      reservations: [],
      sandboxes: [],
      rules: [],
      netns: [],
    });
  }, 60_000);
});

async function until(ok: () => boolean, ms: number, what: () => string): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * kubernetes-models (npm, a dev dependency): each Kubernetes kind as a class whose validate()
 * checks it against the API's OpenAPI schema, bundled; no server.
 */
async function kubernetesModels(): Promise<(path: string) => Promise<new (o: Obj) => { validate(): void }>> {
  const load = async (path: string) => {
    const mod = (await import(/* @vite-ignore */ `kubernetes-models/${path}`)) as Record<
      string,
      new (
        o: Obj,
      ) => { validate(): void }
    >;
    const name = path.split('/').at(-1) as string;
    const Cls = mod[name];
    if (!Cls) throw new Error(`kubernetes-models/${path} has no export ${name}`);
    return Cls;
  };
  try {
    await load('v1/ServiceAccount');
  } catch (err) {
    throw new Error(
      `the schema check needs the npm package kubernetes-models (a dev dependency: npm ci): ${String(err)}`,
    );
  }
  return load;
}

/** The subset of OpenAPI v3 a CRD's structural schema uses here: type, properties, required, items. */
function schemaErrors(schema: Obj, value: unknown, at = ''): string[] {
  const errors: string[] = [];
  const type = schema.type as string | undefined;
  const is: Record<string, (v: unknown) => boolean> = {
    object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
    array: Array.isArray,
    string: (v) => typeof v === 'string',
    integer: Number.isInteger,
    number: (v) => typeof v === 'number',
    boolean: (v) => typeof v === 'boolean',
  };
  if (type && !is[type]?.(value)) return [`${at || '.'}: expected ${type}`];
  for (const r of (schema.required ?? []) as string[])
    if ((value as Obj)[r] === undefined) errors.push(`${at}.${r}: required`);
  if (type === 'object' && schema.properties) {
    for (const [k, v] of Object.entries(value as Obj)) {
      const sub = (schema.properties as Obj)[k];
      if (sub) errors.push(...schemaErrors(sub, v, `${at}.${k}`));
      else if (!schema['x-kubernetes-preserve-unknown-fields']) errors.push(`${at}.${k}: unknown field`);
    }
  }
  if (type === 'array' && schema.items) {
    for (const [i, v] of (value as unknown[]).entries())
      errors.push(...schemaErrors(schema.items, v, `${at}[${i}]`));
  }
  return errors;
}
