/**
 * Hostile input, the rules one by one: no state directory can make a call hang
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
  statSync,
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
const work = mkdtempSync(join(tmpdir(), 'manifold-it-hostile-'));
let fake: FakeSysfs;
beforeAll(() => {
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

const meta = builtinLoader('manifold');
const mv = (extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.1.0',
  name: 'hmv',
  type: 'macvlan',
  master: 'hs0',
  ipam: { type: 'host-local', dataDir: join(work, 'ipam'), subnet: '10.79.0.0/24' },
  ...extra,
});
const metaConf = (extra: Record<string, unknown>) => ({
  cniVersion: '1.1.0',
  name: 'hostile',
  type: 'manifold',
  cniDir: join(work, 'cache'),
  ...extra,
});
let ids = 0;
/** A call's environment: a fresh pod and container id unless given. */
function podEnv(command: string, pod?: { id: string; netns: string }) {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod?.id ?? `hostile${++ids}`,
    CNI_NETNS: pod?.netns ?? newNetns().path,
    CNI_IFNAME: 'eth0',
    CNI_PATH: join(work, 'bin'),
  };
}

describe('plugin and IPAM types cannot escape binDir/CNI_PATH', () => {
  const trap = () => {
    mkdirSync(join(work, 'bin'), { recursive: true });
    const f = join(work, 'trap');
    writeFileSync(f, `#!/bin/sh\ntouch ${join(work, 'TRAPPED')}\necho '{"cniVersion":"1.1.0"}'\n`);
    chmodSync(f, 0o755);
  };
  it.each([
    ['delegates[1].type', { delegates: [mv(), { cniVersion: '1.1.0', name: 'x', type: '../trap' }] }],
    ['delegates[1].type', { delegates: [mv(), { cniVersion: '1.1.0', name: 'x', type: `${work}/trap` }] }],
    [
      'delegates[1].plugins[1].type',
      {
        delegates: [
          mv(),
          { cniVersion: '1.1.0', name: 'x', plugins: [{ type: 'tuning' }, { type: '../trap' }] },
        ],
      },
    ],
    ['delegates[0].ipam.type', { delegates: [mv({ ipam: { type: '../trap' } })] }],
    [
      'delegates[1].plugins[0].ipam.type',
      {
        delegates: [
          mv(),
          {
            cniVersion: '1.1.0',
            name: 'x',
            plugins: [{ type: 'macvlan', master: 'hs0', ipam: { type: '..' } }],
          },
        ],
      },
    ],
  ])('%s outside the search path: code 7 naming it, nothing run, nothing made', async (field, extra) => {
    trap();
    const env = podEnv('ADD');
    const r = await runWith(meta, env, JSON.stringify(metaConf(extra)));
    expect(r.json?.code, r.stdout).toBe(7);
    expect(String(r.json?.msg).startsWith(`${field}: `), String(r.json?.msg)).toBe(true);
    expect(existsSync(join(work, 'TRAPPED'))).toBe(false);
  });

  it('a link plugin with ipam.type outside CNI_PATH: code 7, nothing run', async () => {
    trap();
    const r = await runWith(
      builtinLoader('macvlan'),
      podEnv('ADD'),
      JSON.stringify(mv({ ipam: { type: '../trap' } })),
    );
    expect(r.json?.code, r.stdout).toBe(7);
    expect(String(r.json?.msg)).toMatch(/^ipam\.type: /);
    expect(existsSync(join(work, 'TRAPPED'))).toBe(false);
  });
});

describe('directories and log files must be absolute', () => {
  it.each([
    ['cniDir', builtinLoader('manifold'), metaConf({ cniDir: 'rel/cache', delegates: [mv()] })],
    ['confDir', builtinLoader('manifold'), metaConf({ confDir: 'rel', clusterNetwork: 'x' })],
    ['binDir', builtinLoader('manifold'), metaConf({ binDir: 'bin', delegates: [mv()] })],
    ['logFile', builtinLoader('manifold'), metaConf({ logFile: 'rel.log', delegates: [mv()] })],
    ['logFile', builtinLoader('macvlan'), mv({ logFile: 'rel.log' })],
    [
      'ipam.dataDir',
      builtinLoader('macvlan'),
      mv({ ipam: { type: 'host-local', dataDir: 'rel', subnet: '10.79.1.0/24' } }),
    ],
    [
      'dataDir',
      builtinLoader('sriov'),
      { cniVersion: '1.1.0', name: 's', type: 'sriov', deviceID: '0000:07:10.0', dataDir: 'rel' },
    ],
  ])('%s relative: code 7 naming it, nothing written', async (field, load, conf) => {
    const r = await runWith(
      load,
      { ...podEnv('ADD'), MANIFOLD_SYSFS_ROOT: fake.root },
      JSON.stringify(conf),
      'test',
    );
    expect(r.json?.code, r.stdout).toBe(7);
    expect(String(r.json?.msg)).toMatch(new RegExp(`^${field.replace('.', '\\.')}: `));
    for (const f of ['rel', 'rel.log', 'bin']) expect(existsSync(join(process.cwd(), f)), f).toBe(false);
  });
});

describe('interface names are counted in bytes (15 at most)', () => {
  const long = 'é'.repeat(8); // 8 characters, 16 bytes
  it('CNI_IFNAME: code 4', async () => {
    const r = await runWith(
      builtinLoader('macvlan'),
      { ...podEnv('ADD'), CNI_IFNAME: long },
      JSON.stringify(mv()),
    );
    expect(r.json).toMatchObject({ code: 4, msg: expect.stringMatching(/longer than 15 bytes/) });
  });
  it.each([
    ['delegates[0].manifold.ifname', meta, metaConf({ delegates: [mv({ manifold: { ifname: long } })] })],
    ['bridge', builtinLoader('bridge'), { cniVersion: '1.1.0', name: 'b', type: 'bridge', bridge: long }],
    [
      'bridge',
      builtinLoader('vxlan'),
      { cniVersion: '1.1.0', name: 'v', type: 'vxlan', vni: 9, mode: 'bridge', bridge: long },
    ],
  ])('%s: code 7', async (field, load, conf) => {
    const r = await runWith(load, podEnv('ADD'), JSON.stringify(conf));
    expect(r.json?.code, r.stdout).toBe(7);
    expect(String(r.json?.msg)).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: .*15 bytes`));
  });
});

describe('no secret reaches a log', () => {
  it('CNI_ARGS values, unknown config fields and a kubeconfig never appear in the log, at debug, on any path', async () => {
    const logFile = join(work, 'secret.log');
    const kubeconfig = join(work, 'kubeconfig');
    writeFileSync(kubeconfig, 'apiVersion: v1\nusers:\n- name: u\n  user:\n    token: S3CRET-KUBE\n');
    const SECRETS = [
      'S3CRET-ARG',
      'S3CRET-ARGS',
      'S3CRET-RC',
      'S3CRET-KUBE',
      'S3CRET-PAIR',
      'S3CRET-DELEGATE',
    ];
    const conf = metaConf({
      logFile,
      logLevel: 'debug',
      kubeconfig,
      args: { cni: {}, token: 'S3CRET-ARGS' },
      runtimeConfig: { password: 'S3CRET-RC' },
      delegates: [
        mv({ args: { password: 'S3CRET-DELEGATE' } }),
        mv({ name: 'bad', master: 'nope', manifold: { ifname: 'net1' } }),
      ],
    });
    const outputs: string[] = [];
    const pod = { id: 'secret1', netns: newNetns().path };
    const go = async (command: string, extra: Record<string, string> = {}, c: object = conf) => {
      const r = await runWith(
        meta,
        {
          ...podEnv(command, pod),
          CNI_ARGS: 'K8S_POD_NAME=p;API_TOKEN=S3CRET-ARG;IgnoreUnknown=1',
          ...extra,
        },
        JSON.stringify(c),
      );
      outputs.push(r.stderr);
      return r;
    };
    await go('ADD'); // fails at the second delegate: error paths and rollback log
    await go('ADD', { CNI_ARGS: 'K8S_POD_NAME=p;S3CRET-PAIR' }); // a malformed pair
    await go('ADD', {}, { ...conf, delegates: [mv({ args: { password: 'S3CRET-DELEGATE' } })] });
    await go('DEL');
    await go('GC', {}, { ...conf, 'cni.dev/valid-attachments': [] });
    const log = readFileSync(logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    for (const s of SECRETS) {
      expect(log, `${s} in the log`).not.toContain(s);
      for (const o of outputs) expect(o, `${s} on stderr`).not.toContain(s);
    }
    expect(readdirSync(join(work, 'cache'))).toEqual([]);
  });
});

describe('state files are 0600 in 0700 directories', () => {
  it('the delegate cache, host-local stores, VF records and locks, made fresh by one ADD', async () => {
    const root = join(work, 'modes');
    const conf = metaConf({
      cniDir: join(root, 'cache'),
      delegates: [
        mv({
          name: 'modes-mv',
          ipam: { type: 'host-local', dataDir: join(root, 'ipam'), subnet: '10.79.9.0/24' },
        }),
        {
          cniVersion: '1.1.0',
          name: 'modes-sr',
          type: 'sriov',
          deviceID: '0000:07:10.0',
          dataDir: join(root, 'sriov'),
        },
      ],
    });
    const env = { ...podEnv('ADD'), MANIFOLD_SYSFS_ROOT: fake.root };
    const add = await runWith(meta, env, JSON.stringify(conf));
    expect(add.code, add.stdout).toBe(0);
    const modes: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        modes.push(`${(statSync(p).mode & 0o777).toString(8)} ${e.isDirectory() ? 'dir' : 'file'}`);
        if (e.isDirectory()) walk(p);
      }
    };
    walk(root);
    expect(new Set(modes)).toEqual(new Set(['700 dir', '600 file']));
    expect((await runWith(meta, { ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(conf))).code).toBe(0);
  });
});

describe("a delegate's config error names its field by its JSON path in the meta config", () => {
  it.each([
    ['delegates[1].mtu: ', [mv(), mv({ name: 'p1', mtu: 5, manifold: { ifname: 'net1' } })]],
    [
      'delegates[1].plugins[0].mode: ',
      [
        mv(),
        { cniVersion: '1.1.0', name: 'p2', plugins: [{ type: 'macvlan', master: 'hs0', mode: 'fast' }] },
      ],
    ],
  ])('%s…', async (prefix, delegates) => {
    const r = await runWith(meta, podEnv('ADD'), JSON.stringify(metaConf({ delegates })));
    expect(r.json?.code, r.stdout).toBe(7);
    expect(String(r.json?.msg).startsWith(prefix), String(r.json?.msg)).toBe(true);
    expect(String(r.json?.details)).toMatch(/^delegate "p\d" \(macvlan\)/);
  });
});

describe('an error message is one line whatever a value in it holds', () => {
  it('a delegate type with CR LF (found by fuzzing)', async () => {
    const conf = metaConf({ delegates: [{ cniVersion: '1.1.0', name: 'crlf', type: '"quoted"\r\n' }] });
    for (const command of ['STATUS', 'ADD', 'DEL']) {
      const r = await runWith(meta, podEnv(command), JSON.stringify(conf));
      expect(r.code, r.stdout).toBe(command === 'DEL' ? 0 : 1);
      if (r.json) expect(String(r.json.msg)).not.toMatch(/[\r\n]/);
    }
  });
});
