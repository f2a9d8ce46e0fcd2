/**
 * A network run the way libcni runs it (docs/meta-plugin.md, "How a call runs"): each plugin
 * of a conflist gets the list's `name` and `cniVersion`, the previous plugin's result as
 * `prevResult`, and `runtimeConfig` holding only the capabilities it declares; ADD in order,
 * DEL in reverse with the cached result. Plugins are a scripted invoker.
 */
import { describe, expect, it } from 'vitest';
import { type FakeCall, FakeInvoker } from '../../test/helpers/fake-invoker.ts';
import { cniRejectionOf } from '../../test/helpers/skel.ts';
import { CniError } from '../cni/errors.ts';
import type { Result } from '../cni/result.ts';
import {
  addNetwork,
  checkNetwork,
  delNetwork,
  ipamDelNetwork,
  parseNetwork,
  type RuntimeConf,
} from './network.ts';

const rt: RuntimeConf = {
  containerId: 'c1',
  netns: '/run/netns/p1',
  ifname: 'net1',
  args: [
    ['IgnoreUnknown', 'true'],
    ['K8S_POD_NAME', 'web'],
  ],
  capabilityArgs: {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    bandwidth: { ingressRate: 1000 },
    mac: '0a:58:00:00:00:09',
    ips: ['10.0.0.9/24'],
  },
  searchPath: ['/opt/cni/bin', '/usr/libexec/cni'],
  env: { PATH: '/usr/bin' },
};

const list = (cniVersion = '1.1.0') =>
  parseNetwork(
    {
      cniVersion,
      name: 'chain',
      plugins: [
        { type: 'main', cniVersion: '0.3.1', name: 'own-name', capabilities: { mac: true, ips: false } },
        { type: 'portmap', capabilities: { portMappings: true, aliases: true } },
        { type: 'tuning' },
      ],
    },
    'delegates[0]',
    '1.1.0',
  );

/** Each plugin adds one address to what it got, so a chain shows in the final result. */
function appends(octet: number) {
  return (c: FakeCall) => {
    const prev = (c.prevResult ?? { cniVersion: c.conf.cniVersion, ips: [] }) as { ips?: unknown[] };
    return {
      ...prev,
      cniVersion: c.conf.cniVersion,
      ips: [...(prev.ips ?? []), { address: `10.0.${octet}.5/24` }],
    };
  };
}

const scripted = () =>
  new FakeInvoker({
    main: { answers: { ADD: appends(1) } },
    portmap: { answers: { ADD: appends(2) } },
    tuning: { answers: { ADD: appends(3) } },
  });

describe('a conflist run as libcni runs it', () => {
  it("gives each plugin the list's name and cniVersion and the runtime's environment", async () => {
    const fake = scripted();
    await addNetwork(fake, list(), rt);
    expect(fake.calls.map((c) => [c.type, c.conf.name, c.conf.cniVersion])).toEqual([
      ['main', 'chain', '1.1.0'],
      ['portmap', 'chain', '1.1.0'],
      ['tuning', 'chain', '1.1.0'],
    ]);
    const c = fake.calls[0] as FakeCall;
    expect([c.containerId, c.netns, c.ifname, c.args]).toEqual([
      'c1',
      '/run/netns/p1',
      'net1',
      'IgnoreUnknown=true;K8S_POD_NAME=web',
    ]);
    expect(c.env.CNI_PATH).toBe('/opt/cni/bin:/usr/libexec/cni');
    expect(c.env.PATH).toBe('/usr/bin');
  });

  it('hands runtimeConfig only the capabilities a plugin declares (true), and none to the others', async () => {
    const fake = scripted();
    await addNetwork(fake, list(), rt);
    expect(fake.calls.map((c) => c.runtimeConfig)).toEqual([
      { mac: '0a:58:00:00:00:09' }, // ips: false is not declared
      { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }, // aliases: no argument
      undefined,
    ]);
    expect('runtimeConfig' in (fake.calls[2] as FakeCall).conf).toBe(false);
  });

  it("chains ADD: each plugin's prevResult is the one before's result, the last result is the network's", async () => {
    const fake = scripted();
    const r = await addNetwork(fake, list(), rt);
    expect(
      fake.calls.map((c) =>
        (c.prevResult?.ips as { address: string }[] | undefined)?.map((ip) => ip.address),
      ),
    ).toEqual([undefined, ['10.0.1.5/24'], ['10.0.1.5/24', '10.0.2.5/24']]);
    expect(r.ips?.map((ip) => ip.address)).toEqual(['10.0.1.5/24', '10.0.2.5/24', '10.0.3.5/24']);
  });

  it('stops at the first plugin that fails, with its error', async () => {
    const fake = scripted().plugin('portmap', { answers: { ADD: new CniError(11, 'iptables locked') } });
    const e = await cniRejectionOf(addNetwork(fake, list(), rt));
    expect([e.code, e.message]).toEqual([11, 'iptables locked']);
    expect(fake.trace()).toEqual(['ADD main net1', 'ADD portmap net1']);
  });

  it('names the plugin of a conflist whose config error names a field', async () => {
    const fake = scripted().plugin('portmap', {
      answers: { ADD: new CniError(7, 'snat: expected boolean') },
    });
    const e = await cniRejectionOf(addNetwork(fake, list(), rt));
    expect(e.message).toBe('plugins[1].snat: expected boolean');
  });

  it('runs DEL in reverse, each plugin with the cached result as prevResult', async () => {
    const fake = scripted();
    const cached: Result = { cniVersion: '1.1.0', ips: [{ address: '10.0.1.5/24' }] };
    await delNetwork(fake, list(), rt, cached);
    expect(fake.trace()).toEqual(['DEL tuning net1', 'DEL portmap net1', 'DEL main net1']);
    expect(fake.calls.map((c) => [c.prevResult?.cniVersion, c.prevResult?.ips])).toEqual([
      ['1.1.0', [{ address: '10.0.1.5/24' }]],
      ['1.1.0', [{ address: '10.0.1.5/24' }]],
      ['1.1.0', [{ address: '10.0.1.5/24' }]],
    ]);
    // the same runtimeConfig as ADD: a plugin releases what its capability arguments made
    expect(fake.calls[1]?.runtimeConfig).toEqual({ portMappings: rt.capabilityArgs.portMappings });
  });

  it('gives DEL no prevResult below 0.4.0 (the spec had none then)', async () => {
    const fake = scripted();
    await delNetwork(fake, list('0.3.1'), rt, { cniVersion: '0.3.1', ips: [{ address: '10.0.1.5/24' }] });
    expect(fake.calls.map((c) => c.prevResult)).toEqual([undefined, undefined, undefined]);
  });

  it('skips CHECK of a network below 0.4.0 or with disableCheck', async () => {
    const fake = scripted();
    const cached: Result = { cniVersion: '1.1.0' };
    expect(await checkNetwork(fake, list('0.3.1'), rt, cached)).toBe('skipped');
    const off = parseNetwork({ ...list().raw, disableCheck: true }, 'x', '1.1.0');
    expect(await checkNetwork(fake, off, rt, cached)).toBe('skipped');
    expect(fake.calls).toEqual([]);
    expect(await checkNetwork(fake, list(), rt, cached)).toBe('checked');
    expect(fake.trace()).toEqual(['CHECK main net1', 'CHECK portmap net1', 'CHECK tuning net1']);
  });
});

describe('IPAM DEL for a network whose own DEL cannot run', () => {
  it('deletes the IPAM of every plugin that names one, in reverse, with that plugin’s config; all attempted', async () => {
    const net = parseNetwork(
      {
        cniVersion: '1.0.0',
        name: 'two',
        plugins: [
          { type: 'bridge', ipam: { type: 'ipam-a', subnet: '10.0.0.0/24' } },
          { type: 'tuning' },
          { type: 'vlan', ipam: { type: 'ipam-b' } },
        ],
      },
      'x',
      '1.1.0',
    );
    const fake = new FakeInvoker({ 'ipam-a': {}, 'ipam-b': { answers: { DEL: new CniError(11, 'busy') } } });
    const failures = await ipamDelNetwork(fake, net, rt);
    expect(fake.trace()).toEqual(['DEL ipam-b net1', 'DEL ipam-a net1']);
    expect(fake.calls[1]?.conf).toEqual({
      type: 'bridge',
      name: 'two',
      cniVersion: '1.0.0',
      ipam: { type: 'ipam-a', subnet: '10.0.0.0/24' },
    });
    expect(failures.map((e) => (e as CniError).message)).toEqual(['busy']);
  });
});
