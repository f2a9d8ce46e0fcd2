/**
 * The kernel layer's VF settings (src/kernel/vf.ts) against netdevsim, which stores every
 * IFLA_VF_* setting igb refuses (link state, min rate, 802.1ad): each one set, read back by
 * vf.get and by iproute2, then sriov's PF-side apply/check/reset round trip with all of them.
 * Runs in the plain kernel-lab VM (`run-in-vm -- vitest run --project vm <this file>`).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySteps, pfMismatch, pfStateOf, resetSteps, runStep } from '../../plugins/sriov/pfside.ts';
import type { PfWant } from '../../plugins/sriov/state.ts';
import * as link from '../../src/kernel/link.ts';
import { hostRtnl } from '../../src/kernel/socket.ts';
import * as vf from '../../src/kernel/vf.ts';
import type { IpVf } from '../helpers/host.ts';
import { ipJson, requireRoot } from '../helpers/host.ts';

requireRoot();

const ID = 40 + Math.floor(Math.random() * 50);
const DEV = `/sys/bus/netdevsim/devices/netdevsim${ID}`;
let PF = '';
let pfIndex = 0;

const ipVf = (i: number) =>
  ipJson<{ vfinfo_list?: IpVf[] }[]>('link', 'show', 'dev', PF)[0]?.vfinfo_list?.find((v) => v.vf === i);

beforeAll(() => {
  try {
    writeFileSync('/sys/bus/netdevsim/new_device', `${ID} 1`);
  } catch (err) {
    throw new Error(`netdevsim is not available (run inside test/kernel-lab/run-in-vm): ${String(err)}`);
  }
  PF = readdirSync(`${DEV}/net`)[0] ?? '';
  writeFileSync(`${DEV}/sriov_numvfs`, '2');
});
afterAll(() => {
  try {
    writeFileSync('/sys/bus/netdevsim/del_device', `${ID}`);
  } catch {
    // the VM is thrown away anyway
  }
});

describe('vf.ts on netdevsim', () => {
  it('lists the VFs with their defaults', async () => {
    const h = hostRtnl();
    pfIndex = (await link.mustByName(h, PF)).index;
    const list = await vf.list(h, PF);
    expect(list.map((v) => v.vf)).toEqual([0, 1]);
    expect(list[1]).toMatchObject({
      mac: '00:00:00:00:00:00',
      vlan: 0,
      qos: 0,
      vlanProto: '802.1q',
      linkState: 'auto',
      minTxRate: 0,
      maxTxRate: 0,
    });
  });

  it.each<[vf.VfSetting, Partial<vf.VfInfo>, Partial<IpVf>]>([
    [
      { kind: 'mac', mac: '02:00:00:00:00:01' },
      { mac: '02:00:00:00:00:01' },
      { address: '02:00:00:00:00:01' },
    ],
    [
      { kind: 'vlan', vlan: 100, qos: 2, proto: '802.1q' },
      { vlan: 100, qos: 2, vlanProto: '802.1q' },
      { vlan_list: [{ vlan: 100, qos: 2 }] },
    ],
    [
      { kind: 'vlan', vlan: 200, qos: 5, proto: '802.1ad' },
      { vlan: 200, qos: 5, vlanProto: '802.1ad' },
      { vlan_list: [{ vlan: 200, qos: 5, protocol: '802.1ad' }] },
    ],
    [
      { kind: 'vlan', vlan: 0, qos: 0, proto: '802.1q' },
      { vlan: 0, qos: 0, vlanProto: '802.1q' },
      { vlan_list: [{}] },
    ],
    [{ kind: 'spoofchk', on: true }, { spoofchk: true }, { spoofchk: true }],
    [{ kind: 'spoofchk', on: false }, { spoofchk: false }, { spoofchk: false }],
    [{ kind: 'trust', on: true }, { trust: true }, { trust: true }],
    [{ kind: 'trust', on: false }, { trust: false }, { trust: false }],
    [{ kind: 'linkState', state: 'enable' }, { linkState: 'enable' }, { link_state: 'enable' }],
    [{ kind: 'linkState', state: 'disable' }, { linkState: 'disable' }, { link_state: 'disable' }],
    [{ kind: 'linkState', state: 'auto' }, { linkState: 'auto' }, { link_state: 'auto' }],
    [
      { kind: 'rate', min: 10, max: 100 },
      { minTxRate: 10, maxTxRate: 100 },
      { rate: { min_tx: 10, max_tx: 100 } },
    ],
    [{ kind: 'rate', min: 0, max: 0 }, { minTxRate: 0, maxTxRate: 0 }, { rate: { min_tx: 0, max_tx: 0 } }],
  ])('sets %j and reads it back', async (setting, got, shown) => {
    const h = hostRtnl();
    await vf.set(h, pfIndex, PF, 0, setting);
    expect(await vf.get(h, PF, 0)).toMatchObject({ vf: 0, ...got });
    expect(ipVf(0)).toMatchObject(shown);
  });

  it('names the setting and the PF when the kernel refuses', async () => {
    const err = await vf
      .set(hostRtnl(), pfIndex, PF, 7, { kind: 'trust', on: true })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe(`failed to set VF 7 trust on on PF "${PF}": invalid argument`);
  });
});

describe("sriov's PF-side steps on netdevsim (a driver that takes every setting)", () => {
  it('applies every setting one request each, checks them, and resets to the original', async () => {
    const h = hostRtnl();
    const orig = pfStateOf((await vf.get(h, PF, 1)) as vf.VfInfo);
    const want: PfWant = {
      vlan: { vlan: 300, qos: 4, proto: '802.1ad' },
      mac: '02:00:00:00:01:01',
      maxTxRate: 200,
      minTxRate: 20,
      spoofchk: true,
      trust: true,
      linkState: 'disable',
    };
    const pf = { index: pfIndex, name: PF };
    for (const s of applySteps(want, orig)) await runStep(h, pf, 1, s);
    const applied = (await vf.get(h, PF, 1)) as vf.VfInfo;
    expect(pfMismatch(want, applied)).toBeUndefined();
    expect(ipVf(1)).toMatchObject({
      address: '02:00:00:00:01:01',
      vlan_list: [{ vlan: 300, qos: 4, protocol: '802.1ad' }],
      rate: { max_tx: 200, min_tx: 20 },
      spoofchk: true,
      trust: true,
      link_state: 'disable',
    });
    for (const s of resetSteps(want, orig)) await runStep(h, pf, 1, s);
    expect(pfStateOf((await vf.get(h, PF, 1)) as vf.VfInfo)).toEqual(orig);
  });
});
