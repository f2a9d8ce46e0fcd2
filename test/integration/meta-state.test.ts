/**
 * The meta-plugin's state under what real runtimes do: GC of one
 * manifold network beside another, one container on two manifold networks, a nested
 * `manifold` delegate, caches DEL cannot read, and delegate errors that must be reported
 * (transient) or must not wedge the pod (permanent). External delegates are small scripts in
 * a temp CNI_PATH that fail on demand.
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
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { podLinks } from '../helpers/inproc.ts';
import { builtinLoader, runWith, type SkelRun } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const meta = builtinLoader('manifold');
let work: string;
let bin: string;
let marks: string;
let dataDir: string;

/** A CNI plugin script: fails `verb` with code 11 while `<marks>/fail-<verb>` exists; records each call. */
function script(name: string, addResult = '{"cniVersion":"1.1.0"}'): void {
  const file = join(bin, name);
  writeFileSync(
    file,
    `#!/bin/sh
echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" >> ${marks}/calls-${name}
case "$CNI_COMMAND" in
  VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}'; exit 0 ;;
esac
if [ -e ${marks}/fail-$CNI_COMMAND ]; then
  echo '{"cniVersion":"1.1.0","code":11,"msg":"${name}: busy, try again later"}'; exit 1
fi
[ "$CNI_COMMAND" = ADD ] && echo '${addResult}'
exit 0
`,
  );
  chmodSync(file, 0o755);
}

const calls = (name: string) =>
  existsSync(join(marks, `calls-${name}`))
    ? readFileSync(join(marks, `calls-${name}`), 'utf8')
        .trim()
        .split('\n')
    : [];
const failing = (verb: string, on: boolean) =>
  on ? writeFileSync(join(marks, `fail-${verb}`), '') : rmSync(join(marks, `fail-${verb}`), { force: true });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-metastate-'));
  bin = join(work, 'bin');
  marks = join(work, 'marks');
  dataDir = join(work, 'ipam');
  mkdirSync(bin);
  mkdirSync(marks);
  script('flaky');
  script('manifold', '{"cniVersion":"1.1.0","interfaces":[{"name":"nested0"}]}');
  ip('link', 'add', 'ms0', 'type', 'veth', 'peer', 'name', 'ms0p');
  ip('link', 'set', 'ms0', 'up');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let subnet = 0;
function mv(name: string, ifname?: string) {
  const n = ++subnet;
  return {
    cniVersion: '1.1.0',
    name,
    type: 'macvlan',
    master: 'ms0',
    ipam: { type: 'host-local', dataDir, subnet: `10.71.${n}.0/24` },
    ...(ifname ? { manifold: { ifname } } : {}),
  };
}

function metaConf<D extends object>(name: string, delegates: D[], cniDir: string) {
  return { cniVersion: '1.1.0', name, type: 'manifold', cniDir, delegates };
}

function call(command: string, conf: object, env: Record<string, string>): Promise<SkelRun> {
  return runWith(meta, { CNI_PATH: bin, ...env, CNI_COMMAND: command }, JSON.stringify(conf));
}

function reservations(networks: string[]): string[] {
  return networks.flatMap((n) => {
    const d = join(dataDir, n);
    return existsSync(d)
      ? readdirSync(d)
          .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
          .map((f) => `${n}/${f}`)
      : [];
  });
}

const cacheFiles = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : [];

describe('defect 3: GC of one manifold network leaves another network alone', () => {
  it('GC of A deletes its stale attachment and nothing of B', async () => {
    const cniDir = join(work, uniq('cache'));
    const A = metaConf('net-a', [mv(uniq('a'))], cniDir);
    const B = metaConf('net-b', [mv(uniq('b'))], cniDir);
    const pa = newNetns();
    const pb = newNetns();
    const envA = { CNI_CONTAINERID: uniq('pa'), CNI_NETNS: pa.path, CNI_IFNAME: 'eth0' };
    const envB = { CNI_CONTAINERID: uniq('pb'), CNI_NETNS: pb.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', A, envA)).code).toBe(0);
    expect((await call('ADD', B, envB)).code).toBe(0);
    const gc = await call('GC', { ...A, 'cni.dev/valid-attachments': [] }, {});
    expect(gc.code, gc.stdout).toBe(0);
    expect(podLinks(pa.name)).toEqual([]);
    expect(podLinks(pb.name), 'GC of net-a deleted a pod of net-b').toEqual(['eth0']);
    expect(reservations([B.delegates[0]?.name ?? ''])).toHaveLength(1);
    expect(cacheFiles(cniDir)).toHaveLength(1);
    expect((await call('DEL', B, envB)).code).toBe(0);
    expect(cacheFiles(cniDir)).toEqual([]);
  });
});

describe('defect 4: one container on two manifold networks', () => {
  it('keeps two caches: DEL of one network deletes only its own delegates and IPs', async () => {
    const cniDir = join(work, uniq('cache'));
    const a = [mv(uniq('a')), mv(uniq('a'), 'a1')];
    const b = [mv(uniq('b')), mv(uniq('b'), 'b1')];
    const A = metaConf('net-a', a, cniDir);
    const B = metaConf('net-b', b, cniDir);
    const pod = newNetns();
    const id = uniq('two');
    const envA = { CNI_CONTAINERID: id, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    const envB = { CNI_CONTAINERID: id, CNI_NETNS: pod.path, CNI_IFNAME: 'eth1' };
    expect((await call('ADD', A, envA)).code).toBe(0);
    expect((await call('ADD', B, envB)).code).toBe(0);
    expect(cacheFiles(cniDir)).toHaveLength(2);
    const del = await call('DEL', A, envA);
    expect(del.code, del.stdout).toBe(0);
    expect(podLinks(pod.name).sort()).toEqual(['b1', 'eth1']);
    expect(reservations(a.map((d) => d.name)), 'net-a leaked its IPs').toEqual([]);
    expect(reservations(b.map((d) => d.name))).toHaveLength(2);
    expect((await call('DEL', B, envB)).code).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations(b.map((d) => d.name))).toEqual([]);
    expect(cacheFiles(cniDir)).toEqual([]);
  });
});

describe('defect 5: a nested manifold delegate', () => {
  const nested = [
    [
      'a manifold delegate',
      { cniVersion: '1.1.0', name: 'inner', type: 'manifold', delegates: [] },
      'delegates[1].type: ',
    ],
    [
      'a conflist with a manifold plugin',
      { cniVersion: '1.1.0', name: 'inner', plugins: [{ type: 'flaky' }, { type: 'manifold' }] },
      'delegates[1].plugins[1].type: ',
    ],
  ] as const;
  it.each(nested)(
    '%s: ADD is refused with code 7 naming the field, nothing is run or left',
    async (_, inner, field) => {
      const cniDir = join(work, uniq('cache'));
      const first = mv(uniq('n'));
      const conf = metaConf('outer', [first, inner], cniDir);
      const pod = newNetns();
      const env = { CNI_CONTAINERID: uniq('nest'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
      const before = calls('manifold').length;
      const add = await call('ADD', conf, env);
      expect(add.json?.code, add.stdout).toBe(7);
      expect(String(add.json?.msg)).toMatch(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}`));
      expect(calls('manifold').length, 'the nested manifold was executed').toBe(before);
      expect(podLinks(pod.name)).toEqual([]);
      expect(reservations([first.name])).toEqual([]);
      for (const [verb, e] of [
        ['DEL', env],
        ['GC', {}],
      ] as const) {
        const r = await call(verb, { ...conf, 'cni.dev/valid-attachments': [] }, e);
        expect(r.stdout, `${verb} printed a stack`).not.toMatch(/\bat .*:\d+:\d+/);
        expect(r.code, `${verb}: ${r.stdout}`).toBe(0);
      }
      expect(calls('manifold').length, 'DEL/GC executed the nested manifold').toBe(before);
    },
  );
});

/** Makes the only cache file of `cniDir` unreadable in one of the ways a DEL can meet. */
function corrupt(cniDir: string, how: string): string {
  const [name] = cacheFiles(cniDir);
  if (!name) throw new Error(`no cache in ${cniDir}`);
  const file = join(cniDir, name);
  const text = readFileSync(file, 'utf8');
  const json = JSON.parse(text) as Record<string, unknown> & { delegates: Record<string, unknown>[] };
  const body: Record<string, string> = {
    truncated: text.slice(0, Math.floor(text.length / 2)),
    garbage: '\u0000\u00ff not json',
    empty: '',
    'newer kind': JSON.stringify({ ...json, kind: 'manifoldCacheV9' }),
    'broken delegate': JSON.stringify({ ...json, delegates: [{ ...json.delegates[0], network: {} }] }),
    'broken result': JSON.stringify({
      ...json,
      delegates: json.delegates.map((d) => ({ ...d, result: { ips: [{ address: 'nope' }] } })),
    }),
  };
  writeFileSync(file, body[how] ?? '');
  return file;
}

describe('defect 6: a cache DEL cannot read', () => {
  it.each(['truncated', 'garbage', 'empty', 'newer kind', 'broken delegate', 'broken result'])(
    '%s: DEL releases everything from the config and removes the file; GC skips it',
    async (how) => {
      const cniDir = join(work, uniq('cache'));
      const ds = [mv(uniq('u')), mv(uniq('u'), 'u1')];
      const conf = metaConf('unreadable', ds, cniDir);
      const pod = newNetns();
      const env = { CNI_CONTAINERID: `a${uniq('')}`, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
      expect((await call('ADD', conf, env)).code).toBe(0);
      const file = corrupt(cniDir, how);
      // GC meets the unreadable cache first (it sorts first) and must go on to the stale one
      const stale = newNetns();
      const staleEnv = { CNI_CONTAINERID: `z${uniq('')}`, CNI_NETNS: stale.path, CNI_IFNAME: 'eth0' };
      expect((await call('ADD', conf, staleEnv)).code).toBe(0);
      const gc = await call(
        'GC',
        { ...conf, 'cni.dev/valid-attachments': [{ containerID: env.CNI_CONTAINERID, ifname: 'eth0' }] },
        {},
      );
      expect(gc.stdout).not.toMatch(/\bat .*:\d+:\d+/);
      expect(podLinks(stale.name), `GC stopped at the unreadable cache: ${gc.stdout}`).toEqual([]);
      expect(existsSync(file), 'GC removed a cache it could not read').toBe(true);
      expect(podLinks(pod.name).sort()).toEqual(['eth0', 'u1']);

      const del = await call('DEL', conf, env);
      expect(del.code, del.stdout).toBe(0);
      expect(podLinks(pod.name)).toEqual([]);
      expect(reservations(ds.map((d) => d.name))).toEqual([]);
      expect(cacheFiles(cniDir), 'the unreadable cache is still there').toEqual([]);
    },
  );

  it('reports what it could not release, keeps the file, never loops; the next DEL finishes', async () => {
    const cniDir = join(work, uniq('cache'));
    const ds = [mv(uniq('r')), { cniVersion: '1.1.0', name: uniq('fl'), type: 'flaky' }];
    const conf = metaConf('unreleased', ds, cniDir);
    const pod = newNetns();
    const env = { CNI_CONTAINERID: uniq('rep'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    const file = corrupt(cniDir, 'truncated');
    failing('DEL', true);
    try {
      const del = await call('DEL', conf, env);
      expect(del.json?.code, del.stdout).toBe(11);
      expect(String(del.json?.msg)).toMatch(
        /delegate ".*" \(flaky\) failed DEL: flaky: busy, try again later/,
      );
      expect(existsSync(file)).toBe(true);
      // what could be released was released
      expect(reservations([ds[0]?.name ?? ''])).toEqual([]);
    } finally {
      failing('DEL', false);
    }
    const again = await call('DEL', conf, env);
    expect(again.code, again.stdout).toBe(0);
    expect(cacheFiles(cniDir)).toEqual([]);
  });

  it('a crash between the temp write and its rename leaves the old cache readable; GC clears the stale temp file', async () => {
    const cniDir = join(work, uniq('cache'));
    const conf = metaConf('crashed', [mv(uniq('c'))], cniDir);
    const pod = newNetns();
    const env = { CNI_CONTAINERID: uniq('tmp'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    const [name] = cacheFiles(cniDir);
    const tmp = join(cniDir, `.${name}.12345.deadbeef.tmp`);
    writeFileSync(tmp, '{"kind":"manifoldCache');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(tmp, old, old);
    const gc = await call(
      'GC',
      { ...conf, 'cni.dev/valid-attachments': [{ containerID: env.CNI_CONTAINERID, ifname: 'eth0' }] },
      {},
    );
    expect(gc.code, gc.stdout).toBe(0);
    expect(existsSync(tmp)).toBe(false);
    expect(podLinks(pod.name)).toEqual(['eth0']);
    // DEL had the old cache: changing the config does not matter
    expect((await call('DEL', metaConf('crashed', [mv(uniq('other'))], cniDir), env)).code).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
  });

  it("DEL removes the temp files of this attachment's cache that a killed write left, with or without a cache", async () => {
    const cniDir = join(work, uniq('cache'));
    const conf = metaConf('killedwrite', [mv(uniq('k'))], cniDir);
    const pod = newNetns();
    const env = { CNI_CONTAINERID: uniq('kw'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    const [name] = cacheFiles(cniDir);
    const mine = join(cniDir, `.${name}.4242.0badcafe.tmp`);
    const other = join(cniDir, `.${name}x.4242.0badcafe.tmp`);
    writeFileSync(mine, '{"kind":"manifoldCache');
    writeFileSync(other, '{"kind":"manifoldCache');
    expect((await call('DEL', conf, env)).code).toBe(0);
    expect([existsSync(mine), existsSync(other)]).toEqual([false, true]);
    // killed before its first rename: only the temp file exists
    writeFileSync(mine, '{"kind":"manifoldCache');
    expect((await call('DEL', conf, env)).code).toBe(0);
    expect(existsSync(mine)).toBe(false);
  });

  it('state files are 0600 in 0700 directories', async () => {
    const cniDir = join(work, uniq('cache'), 'deeper');
    const conf = metaConf('modes', [mv(uniq('m'))], cniDir);
    const pod = newNetns();
    const env = { CNI_CONTAINERID: uniq('mode'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    expect(statSync(cniDir).mode & 0o777).toBe(0o700);
    for (const f of cacheFiles(cniDir)) expect(statSync(join(cniDir, f)).mode & 0o777).toBe(0o600);
    expect((await call('DEL', conf, env)).code).toBe(0);
  });
});

describe('defect 7: errors that stopped early or vanished', () => {
  it('DEL without a cache reports a transient delegate error instead of swallowing it', async () => {
    const cniDir = join(work, uniq('cache'));
    const conf = metaConf(
      'nocache',
      [mv(uniq('n')), { cniVersion: '1.1.0', name: uniq('fl'), type: 'flaky' }],
      cniDir,
    );
    const env = { CNI_CONTAINERID: uniq('nc'), CNI_NETNS: '', CNI_IFNAME: 'eth0' };
    failing('DEL', true);
    try {
      const del = await call('DEL', conf, env);
      expect(del.json?.code, del.stdout).toBe(11);
    } finally {
      failing('DEL', false);
    }
    expect((await call('DEL', conf, env)).code).toBe(0);
  });

  it('GC attempts every delegate network and every stale attachment, then reports every failure', async () => {
    const cniDir = join(work, uniq('cache'));
    const mvd = mv(uniq('g'));
    const conf = metaConf('gcall', [{ cniVersion: '1.1.0', name: uniq('fl'), type: 'flaky' }, mvd], cniDir);
    // a reservation of a container the runtime no longer has: macvlan's GC (host-local) must release it
    mkdirSync(join(dataDir, mvd.name), { recursive: true });
    writeFileSync(join(dataDir, mvd.name, '10.71.250.9'), 'gone\r\neth9');
    failing('GC', true);
    try {
      const gc = await call('GC', { ...conf, 'cni.dev/valid-attachments': [] }, {});
      expect(gc.json?.code, gc.stdout).toBe(11);
      expect(String(gc.json?.msg)).toMatch(/flaky/);
    } finally {
      failing('GC', false);
    }
    expect(
      existsSync(join(dataDir, mvd.name, '10.71.250.9')),
      'GC stopped at the first failing delegate',
    ).toBe(false);
  });

  it('GC reports a stale attachment it could not delete (and keeps its cache)', async () => {
    const cniDir = join(work, uniq('cache'));
    const conf = metaConf('gcstale', [{ cniVersion: '1.1.0', name: uniq('fl'), type: 'flaky' }], cniDir);
    const env = { CNI_CONTAINERID: uniq('gs'), CNI_NETNS: newNetns().path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    failing('DEL', true);
    try {
      const gc = await call('GC', { ...conf, 'cni.dev/valid-attachments': [] }, {});
      expect(gc.json?.code, gc.stdout).toBe(11);
      expect(cacheFiles(cniDir)).toHaveLength(1);
    } finally {
      failing('DEL', false);
    }
    expect((await call('GC', { ...conf, 'cni.dev/valid-attachments': [] }, {})).code).toBe(0);
    expect(cacheFiles(cniDir)).toEqual([]);
  });

  it('a DEL that can never succeed (the plugin is gone) does not wedge the pod: IPAM is released for it', async () => {
    const cniDir = join(work, uniq('cache'));
    const name = uniq('gone');
    const conf = metaConf(
      'permanent',
      [
        {
          cniVersion: '1.1.0',
          name,
          type: 'vanished',
          ipam: { type: 'host-local', dataDir, subnet: '10.71.251.0/24' },
        },
      ],
      cniDir,
    );
    const id = uniq('perm');
    // what an ADD made while the plugin was still installed
    mkdirSync(join(dataDir, name), { recursive: true });
    writeFileSync(join(dataDir, name, '10.71.251.2'), `${id}\r\neth0`);
    const del = await call('DEL', conf, { CNI_CONTAINERID: id, CNI_NETNS: '', CNI_IFNAME: 'eth0' });
    expect(del.code, del.stdout).toBe(0);
    expect(reservations([name]), 'the IP of a plugin that is gone leaked').toEqual([]);
  });
});

describe('upgrade: a cache an older manifold wrote', () => {
  it('DEL reads a V1 cache (<cniDir>/<containerID>, no network name) and removes it', async () => {
    const cniDir = join(work, uniq('cache'));
    const ds = [mv(uniq('v1')), mv(uniq('v1'), 'v11')];
    const conf = metaConf('legacy', ds, cniDir);
    const pod = newNetns();
    const env = { CNI_CONTAINERID: uniq('old'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    const [name] = cacheFiles(cniDir);
    const v2 = JSON.parse(readFileSync(join(cniDir, name ?? ''), 'utf8')) as Record<string, unknown>;
    const { networkName: _, ...rest } = v2;
    rmSync(join(cniDir, name ?? ''));
    writeFileSync(join(cniDir, env.CNI_CONTAINERID), JSON.stringify({ ...rest, kind: 'manifoldCacheV1' }));
    // the config no longer lists these delegates: only the cache knows them
    const del = await call('DEL', metaConf('legacy', [mv(uniq('other'))], cniDir), env);
    expect(del.code, del.stdout).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations(ds.map((d) => d.name))).toEqual([]);
    expect(cacheFiles(cniDir)).toEqual([]);
  });
});

describe('the cache during ADD', () => {
  it('holds an executed delegate’s result before the next delegate runs, and every result at the end', async () => {
    const cniDir = join(work, uniq('cache'));
    const peek = join(bin, 'peek');
    writeFileSync(
      peek,
      `#!/bin/sh
case "$CNI_COMMAND" in
  ADD) cat ${cniDir}/net-peek-* > ${marks}/peeked; echo '{"cniVersion":"1.1.0"}' ;;
esac
exit 0
`,
    );
    chmodSync(peek, 0o755);
    script('ext', '{"cniVersion":"1.1.0","interfaces":[{"name":"ext0"}]}');
    const built = mv(uniq('p'), 'p1');
    const conf = metaConf(
      'net-peek',
      [
        { cniVersion: '1.1.0', name: 'ext', type: 'ext' },
        built,
        { cniVersion: '1.1.0', name: 'peek', type: 'peek', manifold: { ifname: 'p2' } },
      ],
      cniDir,
    );
    const pod = newNetns();
    const env = { CNI_CONTAINERID: uniq('pk'), CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    expect((await call('ADD', conf, env)).code).toBe(0);
    const seen = JSON.parse(readFileSync(join(marks, 'peeked'), 'utf8')) as {
      delegates: { network: { name: string }; result?: unknown }[];
    };
    expect(seen.delegates[0]?.result).toMatchObject({ interfaces: [{ name: 'ext0' }] });
    const [file] = cacheFiles(cniDir);
    const final = JSON.parse(readFileSync(join(cniDir, file ?? ''), 'utf8')) as typeof seen;
    expect(final.delegates.map((d) => d.result !== undefined)).toEqual([true, true, true]);
    expect((await call('DEL', conf, env)).code).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations([built.name])).toEqual([]);
  });
});
