import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { runWith } from '../../test/helpers/skel.ts';
import { CniError } from '../cni/errors.ts';
import { NetConfSchema } from '../cni/netconf.ts';
import type { GcContext, Plugin, PluginContext } from '../cni/plugin.ts';
import type { Result } from '../cni/result.ts';
import { parseWith } from '../cni/validate.ts';
import { SUPPORTED_VERSIONS } from '../cni/versions.ts';

const ENV = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/p1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};

const TestConf = z.extend(NetConfSchema, {
  mode: z.optional(z.enum(['bridge', 'private'])),
  plugins: z.optional(z.array(z.looseObject({ mtu: z.optional(z.int().check(z.maximum(9000))) }))),
});

function plugin(over: Partial<Plugin<z.output<typeof TestConf>>> = {}) {
  const calls: (PluginContext<unknown> & Partial<GcContext<unknown>>)[] = [];
  const result: Result = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:01', mtu: 1500, sandbox: '/run/netns/p1' }],
    ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 }],
  };
  const p: Plugin<z.output<typeof TestConf>> = {
    type: 'test',
    parseConfig: (raw) => parseWith(TestConf, raw),
    add: async (ctx) => {
      calls.push(ctx);
      return result;
    },
    del: async (ctx) => void calls.push(ctx),
    check: async (ctx) => void calls.push(ctx),
    status: async (ctx) => void calls.push(ctx),
    gc: async (ctx) => void calls.push(ctx),
    ...over,
  };
  return { load: async () => p, calls };
}

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'test', ...extra });

describe('runSkel', () => {
  it('answers VERSION with every supported version, without reading stdin or loading the plugin', async () => {
    let loaded = false;
    const r = await runWith(
      async () => {
        loaded = true;
        throw new Error('must not load');
      },
      { CNI_COMMAND: 'VERSION' },
      async () => {
        throw new Error('must not read stdin');
      },
    );
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    expect(loaded).toBe(false);
  });

  it.each([
    ['missing', {}],
    ['empty, other variables set', { ...ENV, CNI_COMMAND: '' }],
  ])(
    'CNI_COMMAND %s: the about text on stderr, nothing on stdout, exit 0 (as the reference skel)',
    async (_, env) => {
      const r = await runWith(plugin().load, env, '', 'macvlan');
      expect(r.stderr).toBe(
        'CNI macvlan plugin v0.0.0-test\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n',
      );
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
    },
  );

  it('runs ADD and prints the result converted to the config version', async () => {
    const p = plugin();
    const r = await runWith(
      p.load,
      { ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'K8S_POD_NAME=a;IP=10.1.0.9' },
      conf({ cniVersion: '0.4.0' }),
    );
    expect(r.code).toBe(0);
    expect(r.json).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:01', sandbox: '/run/netns/p1' }],
      ips: [{ version: '4', interface: 0, address: '10.1.0.2/24', gateway: '10.1.0.1' }],
      dns: {},
    });
    const ctx = p.calls[0];
    expect(ctx?.cniArgs.get('IP')).toBe('10.1.0.9');
    expect(ctx?.ifname).toBe('eth0');
    expect(ctx?.path).toEqual(['/opt/cni/bin']);
    expect(ctx?.cniVersion).toBe('0.4.0');
  });

  it.each(['DEL', 'STATUS'])('%s prints nothing on success', async (verb) => {
    const r = await runWith(plugin().load, { ...ENV, CNI_COMMAND: verb }, conf({ cniVersion: '1.1.0' }));
    expect([r.code, r.stdout]).toEqual([0, '']);
  });

  it('passes prevResult (any version) to CHECK in the 1.1.0 model', async () => {
    const p = plugin();
    const prevResult = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ version: '4', address: '10.0.0.2/24', interface: 0 }],
    };
    const r = await runWith(
      p.load,
      { ...ENV, CNI_COMMAND: 'CHECK' },
      conf({ cniVersion: '0.4.0', prevResult }),
    );
    expect(r.code).toBe(0);
    expect(p.calls[0]?.prevResult).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ address: '10.0.0.2/24', interface: 0 }],
    });
  });

  it('passes cni.dev/valid-attachments to GC', async () => {
    const p = plugin();
    const valid = [{ containerID: 'c2', ifname: 'net1' }];
    const r = await runWith(
      p.load,
      { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
      conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': valid }),
    );
    expect(r.code).toBe(0);
    expect(p.calls[0]?.validAttachments).toEqual(valid);
  });

  describe('errors', () => {
    const cases: [string, Record<string, string>, string | Buffer, number, RegExp][] = [
      ['missing env', { CNI_COMMAND: 'ADD' }, conf(), 4, /CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME/],
      ['bad JSON', { ...ENV, CNI_COMMAND: 'ADD' }, '{"cniVersion":', 6, /error decoding network config/],
      ['not UTF-8 JSON', { ...ENV, CNI_COMMAND: 'ADD' }, Buffer.from([0xff, 0xfe]), 6, /error decoding/],
      ['not an object', { ...ENV, CNI_COMMAND: 'ADD' }, '[1,2]', 6, /expected a JSON object/],
      [
        'unsupported version',
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf({ cniVersion: '0.5.0' }),
        1,
        /incompatible CNI versions/,
      ],
      ['non-string version', { ...ENV, CNI_COMMAND: 'ADD' }, conf({ cniVersion: 1 }), 6, /cniVersion/],
      [
        'CHECK before 0.4.0',
        { ...ENV, CNI_COMMAND: 'CHECK' },
        conf({ cniVersion: '0.3.1' }),
        1,
        /does not allow CHECK/,
      ],
      [
        'GC before 1.1.0',
        { CNI_COMMAND: 'GC', CNI_PATH: '/x' },
        conf({ cniVersion: '1.0.0' }),
        1,
        /does not allow GC/,
      ],
      [
        'STATUS before 1.1.0',
        { CNI_COMMAND: 'STATUS' },
        conf({ cniVersion: '0.4.0' }),
        1,
        /does not allow STATUS/,
      ],
      ['missing name', { ...ENV, CNI_COMMAND: 'ADD' }, conf({ name: undefined }), 7, /missing network name/],
      [
        'bad name',
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf({ name: 'a b' }),
        7,
        /^name: invalid characters.*"a b"/,
      ],
      [
        'bad field',
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf({ mode: 'fast' }),
        7,
        /^mode: expected one of "bridge", "private"; got "fast"$/,
      ],
      [
        'nested bad field',
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf({ plugins: [{}, { mtu: 9001 }] }),
        7,
        /^plugins\[1\]\.mtu: must have ≤ 9000; got 9001$/,
      ],
      [
        'wrong type',
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf({ capabilities: 'x' }),
        7,
        /^capabilities: expected record, got string "x"$/,
      ],
      [
        'bad prevResult',
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf({ prevResult: { ips: [{ address: '10.0.0.1' }] } }),
        7,
        /^prevResult\.ips\[0\]\.address: must be an address with prefix length \(CIDR\); got "10.0.0.1"$/,
      ],
      ['CHECK without prevResult', { ...ENV, CNI_COMMAND: 'CHECK' }, conf(), 7, /prevResult: required/],
      ['bad CNI_ARGS', { ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'garbage' }, conf(), 4, /CNI_ARGS/],
      [
        'bad valid-attachments',
        { CNI_COMMAND: 'GC', CNI_PATH: '/x' },
        conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 1 }] }),
        7,
        /^cni\.dev\/valid-attachments\[0\]\.containerID/,
      ],
    ];
    it.each(cases)('%s', async (_name, env, stdin, code, msg) => {
      const r = await runWith(plugin().load, env, stdin);
      expect(r.code).toBe(1);
      expect(r.json?.code).toBe(code);
      expect(String(r.json?.msg)).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('stdin that cannot be read is code 5', async () => {
      const r = await runWith(plugin().load, { ...ENV, CNI_COMMAND: 'ADD' }, async () => {
        throw Object.assign(new Error('read failed'), { code: 'EIO' });
      });
      expect(r.json).toMatchObject({
        code: 5,
        msg: expect.stringMatching(/error reading from stdin: read failed/),
      });
    });

    it('a CniError from the plugin keeps its code, message and details, with the config version', async () => {
      const p = plugin({
        add: async () => {
          throw new CniError(11, 'failed to lock "x": busy', 'try again');
        },
      });
      const r = await runWith(p.load, { ...ENV, CNI_COMMAND: 'ADD' }, conf({ cniVersion: '0.3.1' }));
      expect(r.json).toEqual({
        cniVersion: '0.3.1',
        code: 11,
        msg: 'failed to lock "x": busy',
        details: 'try again',
      });
    });

    it('anything unexpected is code 999 with a short message and no stack anywhere', async () => {
      const p = plugin({
        del: async () => {
          throw new TypeError('cannot read properties of undefined');
        },
      });
      const r = await runWith(p.load, { ...ENV, CNI_COMMAND: 'DEL' }, conf());
      expect(r.code).toBe(1);
      expect(r.json).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'cannot read properties of undefined' });
      expect(r.stdout + r.stderr).not.toMatch(/\bat .*:\d+:\d+/);
    });

    it('a plugin that fails to load is code 999', async () => {
      const r = await runWith(
        async () => {
          throw new Error('boom');
        },
        { ...ENV, CNI_COMMAND: 'ADD' },
        conf(),
      );
      expect(r.json).toMatchObject({ code: 999, msg: 'boom' });
    });
  });
});
