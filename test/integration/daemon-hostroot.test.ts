/**
 * `manifold daemon --host-root DIR`: a daemon in a container, with the node's root mounted at
 * DIR, executes plugins (CNI_PATH, a wrapped primary) inside that root, as one-shot on the node
 * would run them, so a plugin finds the node's own files (portmap's iptables, a primary's
 * state). Here DIR is a small root made for the test (busybox, a plugin script, a marker file
 * that exists only there) and the daemon is the built single executable, which carries the
 * launcher (the shim invoked as manifold-hostexec).
 */

import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cniCall } from '../helpers/daemon.ts';
import { type DaemonProc, DIST_EXE, serving } from '../helpers/daemon-proc.ts';
import { isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-hostroot-');
const root = join(tmp, 'root');
const daemons: DaemonProc[] = [];

/** `dist/bin/manifold daemon` (the single executable: only it carries the launcher). */
function startDaemon(socket: string, args: string[]): DaemonProc {
  const child = spawn(DIST_EXE, ['daemon', '--socket', socket, ...args], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const d: DaemonProc = {
    child,
    pid: child.pid ?? -1,
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stderr?.on('data', (b: Buffer) => {
    d.stderr += b.toString();
  });
  daemons.push(d);
  return d;
}

beforeAll(() => {
  // a node root of its own: a static shell, a plugin in /opt/cni/bin, and a file only it has
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'opt/cni/bin'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const tool of ['sh', 'cat']) symlinkSync('busybox', join(root, 'bin', tool));
  writeFileSync(join(root, 'etc/node-marker'), 'seen-from-the-node-root\n');
  const plugin = join(root, 'opt/cni/bin/rootprobe');
  writeFileSync(
    plugin,
    [
      '#!/bin/sh',
      'cat >/dev/null',
      '[ "$CNI_COMMAND" = ADD ] || exit 0',
      'm=$(cat /etc/node-marker)',
      'printf \'{"cniVersion":"1.0.0","interfaces":[{"name":"%s"}],"ips":[],"dns":{"domain":"%s"}}\\n\' "$CNI_IFNAME" "$m"',
      '',
    ].join('\n'),
  );
  chmodSync(plugin, 0o755);
});

afterAll(() => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
});

const conf = {
  cniVersion: '1.0.0',
  name: 'hostroot',
  type: 'manifold',
  cniDir: join(tmp, 'cache'),
  delegates: [{ name: 'probe', type: 'rootprobe' }],
};

function env(netns: string, command: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: `hostroot-${command.toLowerCase()}`,
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    // the node's CNI bin dir, as the runtime passes it: a path inside the node's root
    CNI_PATH: '/opt/cni/bin',
  };
}

describe('manifold daemon --host-root', () => {
  it('executes plugins inside the node root: they see its files', async () => {
    const socket = join(tmp, 'a', 'manifold.sock');
    const d = startDaemon(socket, ['--host-root', root]);
    await serving(socket, d);
    expect(d.stderr).toContain(`executed plugins run inside ${root}`);
    const pod = newNetns();
    const add = await cniCall(socket, 'manifold', env(pod.path, 'ADD'), conf);
    expect(add.json?.status, add.body).toBe(0);
    const result = JSON.parse(add.json?.stdout ?? '{}') as { dns?: { domain?: string } };
    expect(result.dns?.domain).toBe('seen-from-the-node-root');
    const del = await cniCall(socket, 'manifold', env(pod.path, 'DEL'), conf);
    expect(del.json?.status, del.body).toBe(0);
  }, 60_000);

  it('without it, the same plugin is looked for in the daemon’s own filesystem (and is not there)', async () => {
    const socket = join(tmp, 'b', 'manifold.sock');
    const d = startDaemon(socket, []);
    await serving(socket, d);
    const pod = newNetns();
    const add = await cniCall(socket, 'manifold', env(pod.path, 'ADD'), conf);
    expect(add.json?.status).toBe(1);
    expect(add.json?.stdout).toContain('failed to find plugin \\"rootprobe\\" in path [/opt/cni/bin]');
  }, 60_000);

  it('refuses a root that is not a directory, at start', async () => {
    const socket = join(tmp, 'c', 'manifold.sock');
    const d = startDaemon(socket, ['--host-root', join(root, 'etc/node-marker')]);
    const { code } = await d.exited;
    expect(code).toBe(2);
    expect(d.stderr).toContain('is not a directory');
  }, 30_000);
});
