/**
 * The invoker's limits (found by fuzzing): an IPAM type that names a built-in link
 * plugin made that plugin run in-process as IPAM, whose own IPAM was itself again: an endless
 * in-process recursion (DEL, CHECK, GC, STATUS) that ran the process out of memory. Such a type
 * is a config error now, and in-process calls nest at most a few levels.
 */
import { describe, expect, it } from 'vitest';
import { builtinLoader, runWith } from '../../test/helpers/skel.ts';
import type { Plugin } from '../cni/plugin.ts';
import { createInvoker } from './invoker.ts';

const ENV = { CNI_CONTAINERID: 'c1', CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' };

describe('an IPAM type naming a built-in link plugin', () => {
  it.each(['bridge', 'macvlan', 'vxlan', 'sriov'])(
    'ipam.type %s: code 7 naming ipam.type, for every verb',
    async (t) => {
      // (STATUS looks the master up over netlink, which the unit tier's worker threads must not load)
      for (const verb of ['DEL', 'GC']) {
        const conf = { cniVersion: '1.1.0', name: 'n', type: 'macvlan', master: 'x', ipam: { type: t } };
        const r = await runWith(
          builtinLoader('macvlan'),
          { ...ENV, CNI_COMMAND: verb },
          JSON.stringify(conf),
        );
        expect(r.json, `${verb} ${r.stdout}`).toMatchObject({ code: 7 });
        expect(String(r.json?.msg)).toMatch(/^ipam\.type: /);
      }
    },
  );
});

describe('nesting of in-process calls', () => {
  it('stops after a few levels with a CNI error, whatever the plugins ask', async () => {
    // a plugin that calls itself through the invoker, as a config naming itself would
    let calls = 0;
    const selfCalling: Plugin<unknown> = {
      type: 'loop',
      parseConfig: (raw) => raw,
      add: async () => ({ cniVersion: '1.1.0' }),
      del: async (ctx) => {
        calls++;
        await ctx.invoker.invoke({
          type: 'loop',
          command: 'DEL',
          env: { ...ctx.env, CNI_COMMAND: 'DEL' },
          searchPath: [],
          conf: ctx.raw,
        });
      },
      check: async () => undefined,
      status: async () => undefined,
      gc: async () => undefined,
    };
    const load = async () => selfCalling;
    const invoker = createInvoker({
      inProcess: (t) => (t === 'loop' ? load : undefined),
      ipam: () => undefined,
    });
    const r = await runWith(
      load,
      { ...ENV, CNI_COMMAND: 'DEL' },
      JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'loop' }),
      'loop',
      invoker,
    );
    expect(r.json).toMatchObject({ code: 7, msg: expect.stringMatching(/nest/) });
    expect(calls).toBeLessThanOrEqual(6);
  });
});
