/**
 * Hostile input, the rules one by one (issue 10): no state directory can make a call hang
 * (Node's recursive mkdir spins under /proc); plugin and IPAM types cannot escape
 * binDir/CNI_PATH; every directory and log file must be absolute; interface names are counted
 * in bytes; and no secret from CNI_ARGS, args or a kubeconfig reaches a log. Random inputs
 * are in fuzz.test.ts.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execSource } from '../helpers/exec-plugin.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { ip, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
let work: string;
let fake: FakeSysfs;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-hostile-'));
  ip('link', 'add', 'hs0', 'type', 'veth', 'peer', 'name', 'hs0p');
  ip('link', 'set', 'hs0', 'up');
  fake = new FakeSysfs(join(work, 'sys'));
  ip('link', 'add', 'hspf', 'type', 'veth', 'peer', 'name', 'hspfp');
  ip('link', 'add', 'hsvf0', 'type', 'veth', 'peer', 'name', 'hsvf0p');
  fake.addPf('0000:07:00.0', 'hspf').addVf('0000:07:00.0', 0, '0000:07:10.0', { netdev: 'hsvf0' });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROC_DIRS = ['/proc/nonexistent/x', '/proc/self/x', '/proc/sys/manifold'];

describe('no directory makes a call hang (bounded mkdir)', () => {
  const cases: [string, (dir: string) => Record<string, unknown>][] = [
    [
      'host-local dataDir',
      (d) => ({ type: 'host-local', ipam: { type: 'host-local', dataDir: d, subnet: '10.78.0.0/24' } }),
    ],
    ['sriov dataDir', (d) => ({ type: 'sriov', deviceID: '0000:07:10.0', dataDir: d })],
    [
      'manifold cniDir',
      (d) => ({
        type: 'manifold',
        cniDir: d,
        delegates: [{ cniVersion: '1.1.0', name: 'hd', type: 'macvlan', master: 'hs0' }],
      }),
    ],
  ];
  it.each(cases)('%s under /proc: a CNI error, not a hang', async (_, conf) => {
    const pod = newNetns();
    for (const dir of PROC_DIRS) {
      const c = conf(dir);
      const r = await execSource(
        String(c.type),
        {
          command: 'ADD',
          containerId: 'hang1',
          netns: pod.path,
          ifname: 'eth0',
          env: { MANIFOLD_SYSFS_ROOT: fake.root },
          timeoutMs: 15_000,
        },
        { cniVersion: '1.1.0', name: 'hang', ...c },
      );
      expect(r.status, `${dir}: killed after 15 s (a hang)`).not.toBeNull();
      expect(r.status).toBe(1);
      expect(r.json?.msg, r.stdout).toMatch(new RegExp(dir.replace(/\//g, '\\/')));
    }
  });
});
