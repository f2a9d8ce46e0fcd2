import { describe, expect, it } from 'vitest';
import type { VfInfo } from '../../src/kernel/vf.ts';
import { applySteps, macToRestore, pfMismatch, pfStateOf, resetSteps, wantOf } from './pfside.ts';
import type { PfState, PfWant } from './state.ts';

const ORIG: PfState = {
  mac: '00:00:00:00:00:00',
  vlan: 0,
  qos: 0,
  vlanProto: '802.1q',
  spoofchk: true,
  trust: false,
  linkState: 'auto',
  minTxRate: 0,
  maxTxRate: 0,
};

const ALL: PfWant = {
  vlan: { vlan: 100, qos: 3, proto: '802.1q' },
  mac: '02:00:00:00:00:01',
  maxTxRate: 100,
  minTxRate: 10,
  spoofchk: false,
  trust: true,
  linkState: 'enable',
};

const info = (over: Partial<VfInfo> = {}): VfInfo => ({
  vf: 0,
  mac: '02:00:00:00:00:01',
  vlan: 100,
  qos: 3,
  vlanProto: '802.1q',
  spoofchk: false,
  trust: true,
  linkState: 'enable',
  minTxRate: 10,
  maxTxRate: 100,
  ...over,
});

describe('PF-side steps', () => {
  it("applies in sriov-cni's order, one request per setting, each rate on its own", () => {
    const steps = applySteps(ALL, ORIG);
    expect(steps.map((s) => s.what)).toEqual([
      'VLAN 100 qos 3 proto 802.1q',
      'MAC 02:00:00:00:00:01',
      'max_tx_rate 100 Mbps',
      'min_tx_rate 10 Mbps',
      'spoofchk off',
      'trust on',
      'link state "enable"',
    ]);
    expect(steps.find((s) => s.key === 'maxTxRate')?.setting).toEqual({ kind: 'rate', min: 0, max: 100 });
    expect(steps.find((s) => s.key === 'minTxRate')?.setting).toEqual({ kind: 'rate', min: 10, max: 100 });
    expect(applySteps({}, ORIG)).toEqual([]);
  });

  it('keeps the other half of the rate pair at its current value', () => {
    const orig = { ...ORIG, minTxRate: 5, maxTxRate: 500 };
    expect(applySteps({ maxTxRate: 200 }, orig)[0]?.setting).toEqual({ kind: 'rate', min: 5, max: 200 });
    expect(applySteps({ minTxRate: 20 }, orig)[0]?.setting).toEqual({ kind: 'rate', min: 20, max: 500 });
  });

  it('names the vlanProto field for an 802.1ad VLAN (what a driver refuses)', () => {
    const [s] = applySteps({ vlan: { vlan: 5, qos: 0, proto: '802.1ad' } }, ORIG);
    expect(s).toMatchObject({ field: 'vlanProto', what: 'VLAN 5 qos 0 proto 802.1ad' });
  });

  it('resets only what was wanted, in reverse order, to the original values', () => {
    expect(resetSteps(ALL, ORIG).map((s) => s.what)).toEqual([
      'link state "auto"',
      'trust off',
      'spoofchk on',
      'min_tx_rate 0 max_tx_rate 0 (Mbps)',
      'MAC 00:00:00:00:00:00',
      'VLAN 0 qos 0 proto 802.1q',
    ]);
    expect(resetSteps({ trust: true }, ORIG).map((s) => s.what)).toEqual(['trust off']);
    expect(resetSteps({}, ORIG)).toEqual([]);
  });

  it("clears a PF-side MAC that was the VF's own instead of locking it in", () => {
    const registered = { ...ORIG, mac: '3e:a8:77:1d:42:6c' };
    expect(macToRestore(registered, '3e:a8:77:1d:42:6c')).toBe('00:00:00:00:00:00');
    expect(macToRestore(registered, undefined)).toBe('3e:a8:77:1d:42:6c');
    expect(macToRestore(registered, '02:00:00:00:00:09')).toBe('3e:a8:77:1d:42:6c');
    expect(macToRestore(ORIG, '3e:a8:77:1d:42:6c')).toBe('00:00:00:00:00:00');
    expect(resetSteps({ mac: '02:00:00:00:00:01' }, registered, '3e:a8:77:1d:42:6c')[0]?.setting).toEqual({
      kind: 'mac',
      mac: '00:00:00:00:00:00',
    });
  });

  it('skips values the driver never reported', () => {
    const { spoofchk: _s, trust: _t, linkState: _l, ...bare } = ORIG;
    expect(resetSteps(ALL, bare).map((s) => s.key)).toEqual(['minTxRate', 'mac', 'vlan']);
  });

  it('rolls back exactly the steps that were done', () => {
    const done = applySteps(ALL, ORIG).slice(0, 3);
    expect(wantOf(ALL, done)).toEqual({ vlan: ALL.vlan, mac: ALL.mac, maxTxRate: 100 });
    expect(resetSteps(wantOf(ALL, done), ORIG).map((s) => s.key)).toEqual(['maxTxRate', 'mac', 'vlan']);
  });

  it('records the PF-side state without the VF index or unknowns', () => {
    expect(pfStateOf(info({ spoofchk: undefined }))).toEqual({
      mac: '02:00:00:00:00:01',
      vlan: 100,
      qos: 3,
      vlanProto: '802.1q',
      trust: true,
      linkState: 'enable',
      minTxRate: 10,
      maxTxRate: 100,
    });
  });

  it('tells which setting no longer holds', () => {
    expect(pfMismatch(ALL, info())).toBeUndefined();
    expect(pfMismatch(ALL, info({ vlan: 0 }))).toBe(
      'VLAN is 0 qos 3 proto 802.1q, config says 100 qos 3 proto 802.1q',
    );
    expect(pfMismatch(ALL, info({ mac: '00:00:00:00:00:00' }))).toBe(
      'MAC is 00:00:00:00:00:00, config says 02:00:00:00:00:01',
    );
    expect(pfMismatch(ALL, info({ maxTxRate: 0 }))).toBe('max_tx_rate is 0, config says 100');
    expect(pfMismatch(ALL, info({ minTxRate: 0 }))).toBe('min_tx_rate is 0, config says 10');
    expect(pfMismatch(ALL, info({ spoofchk: true }))).toBe('spoofchk is on, config says off');
    expect(pfMismatch(ALL, info({ trust: undefined }))).toBe('trust is unknown, config says on');
    expect(pfMismatch(ALL, info({ linkState: 'auto' }))).toBe('link state is "auto", config says "enable"');
    expect(pfMismatch({}, info({ vlan: 7 }))).toBeUndefined();
  });
});
