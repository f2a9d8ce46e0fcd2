/**
 * deploy/: the manifests parse, the DaemonSet runs install (init), install --watch (main) and
 * `uninstall --if-daemonset-deleted` (preStop: a restart keeps the node's config) with flags
 * the command line accepts, every container has a memory limit sized from a measured peak
 * (the figure in a comment), and the ClusterRole grants exactly what manifold uses (get pods,
 * patch pods/status, create events, get NADs, get daemonsets). The daemon-mode DaemonSet
 * (daemonset-daemon.yaml): every path a command or probe uses is under a mount of its
 * container at the host's own path, the daemon has the mounts a call needs (the defaults of
 * src/meta/config.ts), init and daemon agree on the socket, the probes reach it, and
 * deploy/probe.c answers as the probes need.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../../src/cli/cli.ts';
import { DEFAULT_SOCKET } from '../../src/cli/common/daemon-files.ts';
import {
  DEFAULT_CNI_DIR,
  DEFAULT_DEVICE_INFO_DIR,
  DEFAULT_KUBELET_CHECKPOINT,
  DEFAULT_POD_RESOURCES_SOCKET,
} from '../../src/meta/config.ts';
import { cliIO } from '../helpers/cli.ts';
import { scratchDir } from '../helpers/scratch.ts';

const DIR = join(import.meta.dirname, '../../deploy');
interface Container {
  name: string;
  command: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
  resources?: { limits?: { memory?: string } };
  lifecycle?: { preStop: { exec: { command: string[] } } };
}
interface Doc {
  kind: string;
  metadata: { name: string };
  rules?: { resources: string[]; verbs: string[] }[];
  spec?: { template: { spec: { initContainers: Container[]; containers: Container[] } } };
}
function docs(f: string): Doc[] {
  const parsed = parseAllDocuments(readFileSync(join(DIR, f), 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${f}: not YAML documents`);
  const errors = parsed.flatMap((d) => d.errors.map((e) => `${f}: ${e.message}`));
  if (errors.length > 0) throw new Error(errors.join('\n'));
  return parsed.map((d) => d.toJS() as Doc);
}

describe('deploy/', () => {
  it('every manifest is valid YAML', () => {
    for (const f of ['crd.yaml', 'rbac.yaml', 'daemonset.yaml', 'daemonset-daemon.yaml'])
      expect(() => docs(f)).not.toThrow();
  });

  it('has the NAD CRD, RBAC and the DaemonSet', () => {
    expect(docs('crd.yaml').map((d) => d.metadata.name)).toEqual([
      'network-attachment-definitions.k8s.cni.cncf.io',
    ]);
    expect(docs('rbac.yaml').map((d) => d.kind)).toEqual([
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
    ]);
    const rules = docs('rbac.yaml')[1]?.rules ?? [];
    const verbs = (r: string) => rules.filter((x) => x.resources.includes(r)).flatMap((x) => x.verbs);
    // list and watch: the daemon's watches (docs/daemon.md)
    expect(verbs('pods')).toEqual(['get', 'list', 'watch']);
    expect(verbs('pods/status')).toEqual(['patch']);
    expect(verbs('events')).toEqual(['create']);
    expect(verbs('network-attachment-definitions')).toEqual(['get', 'list', 'watch']);
    expect(verbs('daemonsets')).toEqual(['get']);
  });

  it('preStop uninstalls only when the DaemonSet is deleted, naming it through the environment', () => {
    const ds = docs('daemonset.yaml')[0] as Doc & { metadata: { name: string } };
    const main = ds.spec?.template.spec.containers[0];
    expect(main?.lifecycle?.preStop.exec.command).toContain('--if-daemonset-deleted');
    const env = Object.fromEntries((main?.env ?? []).map((e) => [e.name, e]));
    expect(env.MANIFOLD_DAEMONSET_NAME?.value).toBe(ds.metadata.name);
    expect(env.MANIFOLD_DAEMONSET_NAMESPACE?.valueFrom?.fieldRef.fieldPath).toBe('metadata.namespace');
  });

  it('every container has a memory limit, sized from a measured peak given in a comment', () => {
    const text = readFileSync(join(DIR, 'daemonset.yaml'), 'utf8');
    const spec = docs('daemonset.yaml')[0]?.spec?.template.spec;
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      expect(c.resources?.limits?.memory, c.name).toMatch(/^\d+Mi$/);
    }
    const measured = [...text.matchAll(/# measured: [^\n]*?([\d.]+) MiB/g)];
    expect(measured.length).toBeGreaterThanOrEqual(2);
  });

  it('runs commands the CLI accepts', async () => {
    const spec = docs('daemonset.yaml')[0]?.spec?.template.spec;
    const commands: string[][] = [
      spec?.initContainers[0]?.command ?? [],
      spec?.containers[0]?.command ?? [],
      spec?.containers[0]?.lifecycle?.preStop.exec.command ?? [],
    ];
    expect(commands.map((c) => c.slice(0, 2))).toEqual([
      ['/manifold', 'install'],
      ['/manifold', 'install'],
      ['/manifold', 'uninstall'],
    ]);
    for (const c of commands) {
      let err = '';
      // the node's dirs become empty temp dirs: the flags must parse (exit 1 = ran and failed, 2 = usage)
      const scratch = scratchDir('mf-deploy-');
      const args = c
        .slice(1)
        .map((a) => a.replace(/^--(bin-dir|conf-dir)=.*/, `--$1=${scratch}`))
        .filter((a) => a !== '--watch');
      const code = await runCli(args, cliIO({ stderr: (s) => (err += s) }), 't');
      expect(code, err).not.toBe(2);
    }
  });
});

interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  mountPropagation?: string;
}
type Probe = { exec: { command: string[] }; timeoutSeconds?: number };
interface DaemonContainer extends Container {
  volumeMounts?: Mount[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}
interface DaemonPod {
  hostNetwork?: boolean;
  hostPID?: boolean;
  serviceAccountName: string;
  terminationGracePeriodSeconds: number;
  initContainers: DaemonContainer[];
  containers: DaemonContainer[];
  volumes: { name: string; hostPath?: { path: string } }[];
}

describe('deploy/daemonset-daemon.yaml (daemon mode)', () => {
  const ds = docs('daemonset-daemon.yaml')[0] as Doc & {
    metadata: { name: string };
    spec: { template: { spec: DaemonPod } };
  };
  const pod = ds.spec.template.spec;
  const init = pod.initContainers[0] as DaemonContainer;
  const byName = (n: string) => pod.containers.find((c) => c.name === n) as DaemonContainer;
  const daemon = byName('daemon');
  const watch = byName('install-watch');
  const flag = (c: string[], name: string) =>
    c.find((a) => a.startsWith(`--${name}=`))?.slice(`--${name}=`.length);
  const socket = flag(daemon.command, 'socket') as string;
  /** The mount of `c` that holds `path`, checked to be the host's own path. */
  function mountOf(c: DaemonContainer, path: string): Mount | undefined {
    const m = (c.volumeMounts ?? [])
      .filter((v) => path === v.mountPath || path.startsWith(`${v.mountPath}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (m) expect(pod.volumes.find((v) => v.name === m.name)?.hostPath?.path, m.name).toBe(m.mountPath);
    return m;
  }

  it('is the same DaemonSet as daemonset.yaml (applying one switches modes), in the host netns, without hostPID', () => {
    const oneShot = docs('daemonset.yaml')[0] as Doc & { metadata: { name: string; namespace: string } };
    expect(ds.metadata).toEqual(oneShot.metadata);
    expect(pod.hostNetwork).toBe(true);
    // containerd and CRI-O pass netns paths under /var/run/netns (the comment says when hostPID is needed)
    expect(pod.hostPID).toBeUndefined();
    expect(pod.serviceAccountName).toBe('manifold');
    expect(readFileSync(join(DIR, 'daemonset-daemon.yaml'), 'utf8')).toMatch(/hostPID/);
  });

  it('init installs the shim for the socket the daemon serves; the daemon gets NODE_NAME', () => {
    expect(init.command.slice(0, 3)).toEqual(['/manifold', 'install', '--mode=daemon']);
    expect(flag(init.command, 'socket')).toBe(socket);
    expect(daemon.command).toEqual([
      '/manifold',
      'daemon',
      `--socket=${socket}`,
      '--replace',
      '--host-root=/hostroot',
    ]);
    // executed plugins run inside the node's root: mounted whole, new netns mounts seen
    const hostRoot = daemon.volumeMounts?.find((m) => m.mountPath === '/hostroot');
    expect(hostRoot?.mountPropagation).toBe('HostToContainer');
    const env = Object.fromEntries((daemon.env ?? []).map((e) => [e.name, e]));
    expect(env.NODE_NAME?.valueFrom?.fieldRef.fieldPath).toBe('spec.nodeName');
    // install --watch installs exactly as init does; preStop as the one-shot DaemonSet's
    expect(watch.command).toEqual([...init.command, '--watch']);
    expect(watch.lifecycle?.preStop.exec.command).toEqual([
      '/manifold',
      'uninstall',
      `--conf-dir=${flag(init.command, 'conf-dir')}`,
      '--if-daemonset-deleted',
    ]);
    const wenv = Object.fromEntries((watch.env ?? []).map((e) => [e.name, e]));
    expect(wenv.MANIFOLD_DAEMONSET_NAME?.value).toBe(ds.metadata.name);
    expect(wenv.MANIFOLD_DAEMONSET_NAMESPACE?.valueFrom?.fieldRef.fieldPath).toBe('metadata.namespace');
  });

  it('every path flag of every command is under a mount of its container at the same host path', () => {
    const commands: [DaemonContainer, string[]][] = [
      [init, init.command],
      [daemon, daemon.command],
      [watch, watch.command],
      [watch, watch.lifecycle?.preStop.exec.command ?? []],
    ];
    for (const [c, command] of commands) {
      const paths = command.flatMap(
        (a) => /^--(?:bin-dir|conf-dir|kubeconfig|socket)=(.+)$/.exec(a)?.[1] ?? [],
      );
      expect(paths.length, c.name).toBeGreaterThan(0);
      for (const p of paths) {
        // install only writes the socket's path into the shim: it needs no mount for it
        if (command[1] === 'install' && p === socket) continue;
        expect(mountOf(c, p), `${c.name}: ${p} is under no volumeMount`).toBeDefined();
      }
    }
  });

  it('the socket is in a directory the daemon makes 0700, inside the mounted /run/manifold', () => {
    expect(dirname(socket)).not.toBe(dirname(DEFAULT_SOCKET)); // the kubelet would make that one 0755
    const m = mountOf(daemon, socket);
    expect(m?.mountPath).toBe(dirname(DEFAULT_SOCKET));
    expect(dirname(socket)).not.toBe(m?.mountPath);
    expect(m?.readOnly).toBeFalsy();
  });

  it('the daemon has the mounts a call needs', () => {
    const need: [string, { rw?: boolean; propagation?: string }][] = [
      ['/var/run/netns/cni-1234', { propagation: 'HostToContainer' }],
      [`${DEFAULT_CNI_DIR}/x`, { rw: true }],
      ['/var/lib/cni/networks/x', { rw: true }],
      [`${flag(init.command, 'bin-dir')}/bridge`, {}],
      [flag(init.command, 'kubeconfig') as string, {}],
      [DEFAULT_POD_RESOURCES_SOCKET, {}],
      [DEFAULT_KUBELET_CHECKPOINT, {}],
      [`${DEFAULT_DEVICE_INFO_DIR}/cni/x`, { rw: true }],
    ];
    for (const [p, want] of need) {
      const m = mountOf(daemon, p);
      expect(m, `daemon: ${p} is under no volumeMount`).toBeDefined();
      if (want.rw) expect(m?.readOnly, p).toBeFalsy();
      if (want.propagation) expect(m?.mountPropagation, p).toBe(want.propagation);
    }
    // the pod-resources socket is connected to; a netns is opened, never created, here
    expect(mountOf(daemon, DEFAULT_POD_RESOURCES_SOCKET)?.readOnly).toBeFalsy();
  });

  it('readiness on /readyz and liveness on /healthz through /probe on the socket; the image has /probe', () => {
    expect(daemon.readinessProbe?.exec.command).toEqual(['/probe', socket, '/readyz']);
    expect(daemon.livenessProbe?.exec.command).toEqual(['/probe', socket, '/healthz']);
    // probe.c gives up after 2 s: inside the kubelet's timeout
    for (const p of [daemon.readinessProbe, daemon.livenessProbe])
      expect(p?.timeoutSeconds).toBeGreaterThan(2);
    expect(readFileSync(join(DIR, 'Containerfile'), 'utf8')).toMatch(/^COPY --from=\S+ \/probe \/probe$/m);
    expect(readFileSync(join(DIR, 'Containerfile'), 'utf8')).toMatch(/deploy\/probe\.c/);
  });

  it('the grace period covers the daemon drain (30 s)', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(35);
  });

  it('every container has a memory limit, sized from a measured peak given in a comment', () => {
    const text = readFileSync(join(DIR, 'daemonset-daemon.yaml'), 'utf8');
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.resources?.limits?.memory, c.name).toMatch(/^\d+Mi$/);
    }
    const measured = [...text.matchAll(/# measured: [^\n]*?([\d.]+) MiB/g)];
    expect(measured.length).toBeGreaterThanOrEqual(3);
    // the daemon's: its VmHWM after pods of ADD+DEL, under its limit
    const peak = /# measured: peak RSS \(VmHWM\) ([\d.]+) MiB/.exec(text)?.[1];
    expect(peak).toBeDefined();
    expect(Number(peak)).toBeLessThan(Number.parseInt(daemon.resources?.limits?.memory ?? '0', 10));
  });

  it('runs commands the CLI accepts', async () => {
    for (const c of [
      init.command,
      watch.command,
      watch.lifecycle?.preStop.exec.command ?? [],
      daemon.command,
    ]) {
      let err = '';
      const scratch = scratchDir('mf-deploy-');
      // the daemon is never left serving: its socket's directory is one the kubelet made (0755),
      // which it refuses (exit 1) after its flags parsed
      mkdirSync(join(scratch, 'kubelet-made'), { mode: 0o755 });
      const args = c
        .slice(1)
        .map((a) => a.replace(/^--(bin-dir|conf-dir)=.*/, `--$1=${scratch}`))
        .map((a) =>
          c === daemon.command ? a.replace(/^--socket=.*/, `--socket=${scratch}/kubelet-made/m.sock`) : a,
        )
        .map((a) => a.replace(/^--host-root=.*/, `--host-root=${scratch}`))
        .filter((a) => a !== '--watch');
      const code = await runCli(args, cliIO({ stderr: (s) => (err += s) }), 't');
      expect(code, err).not.toBe(2);
      if (c === daemon.command)
        expect(err).toMatch(/must be owned by this user and private \(0700\), it is 755/);
    }
  });
});

const cc = spawnSync('cc', ['--version']).status === 0;
describe.skipIf(!cc)('deploy/probe.c (built with cc as the Containerfile builds it)', () => {
  const dir = scratchDir('mf-probe-');
  const probe = join(dir, 'probe');
  const sock = join(dir, 's.sock');
  const run = (path: string, s = sock) => spawnSync(probe, [s, path], { encoding: 'utf8', timeout: 5000 });

  it('exits 0 only on a 200 from the socket, 1 on 503, a missing socket or no answer in 2 s', async () => {
    execFileSync('cc', ['-static', '-Os', '-s', '-Wall', '-Werror', '-o', probe, join(DIR, 'probe.c')]);
    const server = createServer((req, res) => {
      if (req.url === '/stall') return; // never answers
      const code = req.url === '/readyz' ? 503 : 200;
      const body = code === 200 ? '{"ok":true}' : '{"ready":false,"draining":true}';
      res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      // spawned, not spawnSync: the server above must answer meanwhile
      const results = await Promise.all(
        ['/healthz', '/readyz', '/stall'].map(
          (p) =>
            new Promise<{ status: number | null; stdout: string }>((resolve) => {
              const child = spawn(probe, [sock, p]);
              let stdout = '';
              child.stdout.on('data', (b: Buffer) => {
                stdout += b.toString();
              });
              child.on('exit', (status) => resolve({ status, stdout }));
            }),
        ),
      );
      const [ok, draining, stalled] = results;
      expect(ok?.status).toBe(0);
      expect(ok?.stdout).toContain('{"ok":true}');
      expect(draining?.status).toBe(1);
      expect(stalled?.status).toBeNull(); // killed by its SIGALRM after 2 s
    } finally {
      server.close();
    }
    expect(run('/readyz', join(dir, 'absent.sock')).status).toBe(1);
    expect(run('no-slash').status).toBe(2);
  }, 15_000);
});
