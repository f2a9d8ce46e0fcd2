/**
 * PF-side VF settings: what to apply (in sriov-cni's order: vlan, MAC, rates, spoofchk,
 * trust, link state), how to put back the original values, and how to compare with what the
 * PF reports. One netlink request per setting, so a driver's refusal names the setting.
 */

import { CniError, Code, describeError, q } from '../../src/cni/errors.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as link from '../../src/kernel/link.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import * as vf from '../../src/kernel/vf.ts';
import type { PfWant } from './config.ts';
import type { PfState } from './state.ts';

export interface Step {
  /** The PfWant entry the step applies or resets. */
  readonly key: keyof PfWant;
  /** The config field the step serves. */
  readonly field: string;
  /** How the step reads in a message: `link state "enable"`. */
  readonly what: string;
  readonly setting: vf.VfSetting;
}

const onOff = (b: boolean) => (b ? 'on' : 'off');

/** The PF-side view of a VF as it is recorded. */
export function pfStateOf(info: vf.VfInfo): PfState {
  const { vf: _index, ...state } = info;
  return Object.fromEntries(Object.entries(state).filter(([, v]) => v !== undefined)) as PfState;
}

/**
 * The requests that apply `want`. The kernel sets both rates in one request: max_tx_rate and
 * min_tx_rate go as two, each keeping the other's current value, so a refusal names one.
 */
export function applySteps(want: PfWant, orig: PfState | undefined): Step[] {
  const steps: Step[] = [];
  const v = want.vlan;
  if (v) {
    steps.push({
      key: 'vlan',
      field: v.proto === '802.1ad' ? 'vlanProto' : 'vlan',
      what: `VLAN ${v.vlan} qos ${v.qos} proto ${v.proto}`,
      setting: { kind: 'vlan', vlan: v.vlan, qos: v.qos, proto: v.proto },
    });
  }
  if (want.mac)
    steps.push({
      key: 'mac',
      field: 'mac',
      what: `MAC ${want.mac}`,
      setting: { kind: 'mac', mac: want.mac },
    });
  const min0 = orig?.minTxRate ?? 0;
  if (want.maxTxRate !== undefined) {
    steps.push({
      key: 'maxTxRate',
      field: 'max_tx_rate',
      what: `max_tx_rate ${want.maxTxRate} Mbps`,
      setting: { kind: 'rate', min: min0, max: want.maxTxRate },
    });
  }
  if (want.minTxRate !== undefined) {
    steps.push({
      key: 'minTxRate',
      field: 'min_tx_rate',
      what: `min_tx_rate ${want.minTxRate} Mbps`,
      setting: { kind: 'rate', min: want.minTxRate, max: want.maxTxRate ?? orig?.maxTxRate ?? 0 },
    });
  }
  if (want.spoofchk !== undefined) {
    steps.push({
      key: 'spoofchk',
      field: 'spoofchk',
      what: `spoofchk ${onOff(want.spoofchk)}`,
      setting: { kind: 'spoofchk', on: want.spoofchk },
    });
  }
  if (want.trust !== undefined) {
    steps.push({
      key: 'trust',
      field: 'trust',
      what: `trust ${onOff(want.trust)}`,
      setting: { kind: 'trust', on: want.trust },
    });
  }
  if (want.linkState) {
    steps.push({
      key: 'linkState',
      field: 'link_state',
      what: `link state ${q(want.linkState)}`,
      setting: { kind: 'linkState', state: want.linkState },
    });
  }
  return steps;
}

export const ZERO_MAC = '00:00:00:00:00:00';

/**
 * The PF-side MAC to put back. A PF reports as the VF's MAC both an administratively set one
 * and the one the VF's own driver registered (igb does; so do others): setting the latter
 * back through the PF would turn it into an administrative lock (igb then refuses the VF's
 * own MAC changes with EADDRNOTAVAIL). A MAC equal to the netdev's own is therefore cleared
 * (all zeros) instead; restoring the netdev's MAC afterwards registers it again.
 */
export function macToRestore(orig: PfState, netdevMac: string | undefined): string | undefined {
  if (!orig.mac) return undefined;
  return orig.mac === netdevMac ? ZERO_MAC : orig.mac;
}

/**
 * The requests that put back `orig` for what `want` changed, in reverse order of applying.
 * A value the driver never reported (spoofchk/trust/link state) cannot be put back: skipped.
 * `netdevMac` is the VF netdev's original MAC (see macToRestore).
 */
export function resetSteps(want: PfWant, orig: PfState, netdevMac?: string): Step[] {
  const steps: Step[] = [];
  if (want.linkState && orig.linkState) {
    steps.push({
      key: 'linkState',
      field: 'link_state',
      what: `link state ${q(orig.linkState)}`,
      setting: { kind: 'linkState', state: orig.linkState },
    });
  }
  if (want.trust !== undefined && orig.trust !== undefined)
    steps.push({
      key: 'trust',
      field: 'trust',
      what: `trust ${onOff(orig.trust)}`,
      setting: { kind: 'trust', on: orig.trust },
    });
  if (want.spoofchk !== undefined && orig.spoofchk !== undefined) {
    steps.push({
      key: 'spoofchk',
      field: 'spoofchk',
      what: `spoofchk ${onOff(orig.spoofchk)}`,
      setting: { kind: 'spoofchk', on: orig.spoofchk },
    });
  }
  if (want.maxTxRate !== undefined || want.minTxRate !== undefined) {
    steps.push({
      key: want.minTxRate !== undefined ? 'minTxRate' : 'maxTxRate',
      field: want.minTxRate !== undefined ? 'min_tx_rate' : 'max_tx_rate',
      what: `min_tx_rate ${orig.minTxRate} max_tx_rate ${orig.maxTxRate} (Mbps)`,
      setting: { kind: 'rate', min: orig.minTxRate, max: orig.maxTxRate },
    });
  }
  const mac = want.mac ? macToRestore(orig, netdevMac) : undefined;
  if (mac) steps.push({ key: 'mac', field: 'mac', what: `MAC ${mac}`, setting: { kind: 'mac', mac } });
  if (want.vlan) {
    steps.push({
      key: 'vlan',
      field: 'vlan',
      what: `VLAN ${orig.vlan} qos ${orig.qos} proto ${orig.vlanProto}`,
      setting: { kind: 'vlan', vlan: orig.vlan, qos: orig.qos, proto: orig.vlanProto },
    });
  }
  return steps;
}

function hint(step: Step, err: unknown, pf: string): string {
  if (isErrno(err, 'EOPNOTSUPP'))
    return `the driver of PF ${q(pf)} does not support "${step.field}" on its VFs; remove it from the config`;
  if (isErrno(err, 'EPROTONOSUPPORT') && step.setting.kind === 'vlan')
    return `the driver of PF ${q(pf)} does not support this VLAN protocol on its VFs; use "vlanProto": "802.1q"`;
  if (isErrno(err, 'EINVAL') && step.field === 'min_tx_rate')
    return `the driver of PF ${q(pf)} refused the minimum rate (igb supports none); remove "min_tx_rate" or set it to 0`;
  if (isErrno(err, 'EINVAL') && step.field === 'max_tx_rate')
    return `max_tx_rate must not exceed the PF's link speed, and some drivers (igb) take it only while the PF has link`;
  return '';
}

export interface PfRef {
  readonly index: number;
  readonly name: string;
}

/** Runs one step; a refusal becomes `failed to set VF 0 link state "enable" on PF "eth0": …`. */
export async function runStep(h: Rtnl, pf: PfRef, vfIndex: number, step: Step): Promise<void> {
  try {
    await vf.set(h, pf.index, pf.name, vfIndex, step.setting);
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
    throw new CniError(
      Code.Internal,
      `failed to set VF ${vfIndex} ${step.what} on PF ${q(pf.name)}: ${describeError(cause)}`,
      hint(step, err, pf.name),
      { cause: err },
    );
  }
}

/** The part of `want` that `done` steps applied (what a rollback must put back). */
export function wantOf(want: PfWant, done: readonly Step[]): PfWant {
  return Object.fromEntries(done.map((s) => [s.key, want[s.key]])) as PfWant;
}

/** The PF link and what it reports for VF `vfIndex` (undefined when it reports no such VF). */
export async function readPf(
  h: Rtnl,
  pfName: string,
  vfIndex: number,
): Promise<{ pf: PfRef; info: vf.VfInfo | undefined }> {
  const l = await link.mustByName(h, pfName, 'as SR-IOV PF in the host netns');
  const info = await vf.get(h, pfName, vfIndex);
  return { pf: { index: l.index, name: l.name }, info };
}

/** The first PF-side setting that no longer holds, as `vlan is 0, config says 100`. */
export function pfMismatch(want: PfWant, info: vf.VfInfo): string | undefined {
  const v = want.vlan;
  if (v && (info.vlan !== v.vlan || info.qos !== v.qos || info.vlanProto !== v.proto))
    return `VLAN is ${info.vlan} qos ${info.qos} proto ${info.vlanProto}, config says ${v.vlan} qos ${v.qos} proto ${v.proto}`;
  if (want.mac && info.mac !== want.mac) return `MAC is ${info.mac ?? 'unknown'}, config says ${want.mac}`;
  if (want.maxTxRate !== undefined && info.maxTxRate !== want.maxTxRate)
    return `max_tx_rate is ${info.maxTxRate}, config says ${want.maxTxRate}`;
  if (want.minTxRate !== undefined && info.minTxRate !== want.minTxRate)
    return `min_tx_rate is ${info.minTxRate}, config says ${want.minTxRate}`;
  if (want.spoofchk !== undefined && info.spoofchk !== want.spoofchk)
    return `spoofchk is ${info.spoofchk === undefined ? 'unknown' : onOff(info.spoofchk)}, config says ${onOff(want.spoofchk)}`;
  if (want.trust !== undefined && info.trust !== want.trust)
    return `trust is ${info.trust === undefined ? 'unknown' : onOff(info.trust)}, config says ${onOff(want.trust)}`;
  if (want.linkState && info.linkState !== want.linkState)
    return `link state is ${q(info.linkState ?? 'unknown')}, config says ${q(want.linkState)}`;
  return undefined;
}
