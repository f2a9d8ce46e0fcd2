/**
 * Spec 0.1.0 and 0.2.0 through the skel: a config without cniVersion
 * (cni.dev's own examples) reads as 0.1.0 and, like 0.2.0, is accepted by every plugin and
 * answered in the 0.2.0 shape; a prevResult in that shape is read; verbs those versions do
 * not have are refused as the reference refuses them.
 */
import { describe, expect, it } from 'vitest';
import { builtinLoader, runWith } from '../../test/helpers/skel.ts';
import type { Plugin, PluginContext } from '../cni/plugin.ts';

const ENV = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/p1', CNI_IFNAME: 'eth0' };

const STATIC = {
  name: 'legacy',
  type: 'static',
  ipam: {
    type: 'static',
    addresses: [
      { address: '10.1.0.5/24', gateway: '10.1.0.1' },
      { address: 'fd00::5/64', gateway: 'fd00::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    dns: { nameservers: ['10.1.0.10'] },
  },
};

describe('configs of spec 0.1.0 and 0.2.0', () => {
  it.each([
    ['no cniVersion', undefined, '0.1.0'],
    ['""', '', '0.1.0'],
    ['0.1.0', '0.1.0', '0.1.0'],
    ['0.2.0', '0.2.0', '0.2.0'],
  ])('%s: ADD succeeds and prints the 0.2.0 result shape', async (_, version, printed) => {
    const conf = version === undefined ? STATIC : { cniVersion: version, ...STATIC };
    const r = await runWith(builtinLoader('static'), { ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf));
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toEqual({
      cniVersion: printed,
      ip4: { ip: '10.1.0.5/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
      dns: { nameservers: ['10.1.0.10'] },
    });
  });

  it('DEL of a config without cniVersion succeeds', async () => {
    const r = await runWith(builtinLoader('static'), { ...ENV, CNI_COMMAND: 'DEL' }, JSON.stringify(STATIC));
    expect(r.code, r.stdout).toBe(0);
  });

  it('CHECK, STATUS and GC stay refused for them (code 1, as the reference)', async () => {
    for (const [verb, env] of [
      ['CHECK', ENV],
      ['STATUS', {}],
      ['GC', { CNI_PATH: '/x' }],
    ] as const) {
      const r = await runWith(
        builtinLoader('static'),
        { ...env, CNI_COMMAND: verb },
        JSON.stringify({ cniVersion: '0.2.0', ...STATIC }),
      );
      expect(r.json, verb).toMatchObject({ code: 1 });
    }
  });

  it('reads a prevResult in the 0.2.0 shape', async () => {
    let seen: PluginContext<unknown> | undefined;
    const p: Plugin<unknown> = {
      type: 't',
      parseConfig: (raw) => raw,
      add: async (ctx) => {
        seen = ctx;
        return ctx.prevResult ?? { cniVersion: ctx.cniVersion };
      },
      del: async () => undefined,
      check: async () => undefined,
      status: async () => undefined,
      gc: async () => undefined,
    };
    const prevResult = {
      cniVersion: '0.2.0',
      ip4: { ip: '10.9.0.2/24', gateway: '10.9.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      dns: {},
    };
    const r = await runWith(
      async () => p,
      { ...ENV, CNI_COMMAND: 'ADD' },
      JSON.stringify({ cniVersion: '0.2.0', name: 'n', type: 't', prevResult }),
    );
    expect(r.code, r.stdout).toBe(0);
    expect(seen?.prevResult).toEqual({
      cniVersion: '0.2.0',
      ips: [{ address: '10.9.0.2/24', gateway: '10.9.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    });
    expect(r.json).toEqual(prevResult);
  });
});
