import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.ts';
import { DEFAULT_DATA_DIR, normalizePci, parseSriovConf } from './config.ts';

const args = (s: Record<string, string> = {}) => new Map(Object.entries(s));
const base = { cniVersion: '1.0.0', name: 'sriov-net', type: 'sriov', deviceID: '0000:03:02.3' };

function parse(raw: Record<string, unknown>, cniArgs = args()) {
  return parseSriovConf({ ...base, ...raw }, cniArgs);
}

function parseError(raw: Record<string, unknown>, cniArgs = args()): CniError {
  try {
    parse(raw, cniArgs);
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('expected a CniError');
}

describe('sriov config', () => {
  it("accepts sriov-cni's documented example with every field", () => {
    const c = parse({
      cniVersion: '0.3.1',
      mac: 'CA:FE:C0:FF:EE:00',
      vlan: 1000,
      vlanQoS: 4,
      vlanProto: '802.1ad',
      min_tx_rate: 100,
      max_tx_rate: 200,
      spoofchk: 'off',
      trust: 'on',
      link_state: 'enable',
      logLevel: 'debug',
      logFile: '/tmp/sriov.log',
    });
    expect(c.effectiveDeviceID).toBe('0000:03:02.3');
    expect(c.effectiveMac).toBe('ca:fe:c0:ff:ee:00');
    expect(c.want).toEqual({
      vlan: { vlan: 1000, qos: 4, proto: '802.1ad' },
      mac: 'ca:fe:c0:ff:ee:00',
      maxTxRate: 200,
      minTxRate: 100,
      spoofchk: false,
      trust: true,
      linkState: 'enable',
    });
    expect(c.effectiveDataDir).toBe(DEFAULT_DATA_DIR);
  });

  it('wants nothing PF-side when nothing is set, and treats "" and null as not set (as sriov-cni)', () => {
    expect(parse({}).want).toEqual({});
    const c = parse({
      mac: '',
      spoofchk: '',
      trust: '',
      link_state: '',
      vlan: null,
      vlanQoS: null,
      vlanProto: null,
      min_tx_rate: null,
    });
    expect(c.want).toEqual({});
    expect(c.effectiveMac).toBeUndefined();
  });

  it('defaults qos to 0 and the protocol to 802.1q, lower-cases the protocol', () => {
    expect(parse({ vlan: 100 }).want.vlan).toEqual({ vlan: 100, qos: 0, proto: '802.1q' });
    expect(parse({ vlan: 100, vlanProto: '802.1Q' }).want.vlan?.proto).toBe('802.1q');
    expect(parse({ vlan: 100, vlanProto: '802.1AD' }).want.vlan?.proto).toBe('802.1ad');
    expect(parse({ vlan: 0 }).want.vlan).toEqual({ vlan: 0, qos: 0, proto: '802.1q' });
  });

  it('takes the device from runtimeConfig.deviceID, then deviceID, then pciBusID', () => {
    expect(parse({ runtimeConfig: { deviceID: '0000:05:00.1' } }).effectiveDeviceID).toBe('0000:05:00.1');
    expect(parse({ deviceID: undefined, pciBusID: '0000:06:00.2' }).effectiveDeviceID).toBe('0000:06:00.2');
    expect(parse({ deviceID: '', pciBusID: '0000:06:00.2' }).effectiveDeviceID).toBe('0000:06:00.2');
    expect(parse({ deviceID: undefined }).effectiveDeviceID).toBeUndefined();
    expect(parse({ deviceID: '03:02.3' }).effectiveDeviceID).toBe('0000:03:02.3');
    expect(parse({ deviceID: '0000:AF:06.1' }).effectiveDeviceID).toBe('0000:af:06.1');
    expect(normalizePci('10000:01:00.0')).toBe('10000:01:00.0');
  });

  it('picks the MAC as sriov-cni: runtimeConfig.mac > CNI_ARGS MAC > mac', () => {
    const m1 = '0a:58:00:00:00:01';
    const m2 = '0a:58:00:00:00:02';
    const m3 = '0A:58:00:00:00:03';
    expect(parse({ mac: m1 }).effectiveMac).toBe(m1);
    expect(parse({ mac: m1 }, args({ MAC: m2 })).effectiveMac).toBe(m2);
    expect(parse({ mac: m1, runtimeConfig: { mac: m3 } }, args({ MAC: m2 })).effectiveMac).toBe(
      '0a:58:00:00:00:03',
    );
    expect(parse({ mac: m1, runtimeConfig: { mac: '' } }, args({ MAC: '' })).effectiveMac).toBe(m1);
    expect(parse({ mac: m1 }, args({ MAC: m2 })).want.mac).toBe(m2);
  });

  it.each([
    [{ vlanQoS: 3 }, 'vlanQoS: needs "vlan" to be set; got 3'],
    [{ vlanProto: '802.1ad' }, 'vlanProto: needs "vlan" to be set; got "802.1ad"'],
    [{ vlan: 0, vlanQoS: 3 }, 'vlanQoS: a non-zero QoS needs a non-zero "vlan"; got 3 with vlan 0'],
    [{ vlan: 0, vlanProto: '802.1ad' }, 'vlanProto: "802.1ad" needs a non-zero "vlan"; got vlan 0'],
    [{ vlan: 4095 }, 'vlan: must have ≤ 4094; got 4095'],
    [{ vlan: -1 }, 'vlan: must have ≥ 0; got -1'],
    [{ vlan: 10, vlanQoS: 8 }, 'vlanQoS: must have ≤ 7; got 8'],
    [{ vlan: 10, vlanProto: '802.1x' }, 'vlanProto: expected one of "802.1q", "802.1ad"; got "802.1x"'],
    [{ vlan: '10' }, 'vlan: expected number, got string "10"'],
    [{ spoofchk: 'yes' }, 'spoofchk: expected one of "", "on", "off"; got "yes"'],
    [{ trust: true }, 'trust: expected one of "", "on", "off"; got true'],
    [{ link_state: 'up' }, 'link_state: expected one of "", "auto", "enable", "disable"; got "up"'],
    [{ min_tx_rate: -5 }, 'min_tx_rate: must have ≥ 0; got -5'],
    [{ min_tx_rate: 200, max_tx_rate: 100 }, 'min_tx_rate: must not exceed max_tx_rate (100); got 200'],
    [{ mac: 'nope' }, 'mac: must be a MAC address like 0a:58:0a:f4:00:05; got "nope"'],
    [{ mac: '01:00:5e:00:00:01' }, 'mac: must be a unicast, non-zero MAC address; got "01:00:5e:00:00:01"'],
    [{ mac: '00:00:00:00:00:00' }, 'mac: must be a unicast, non-zero MAC address; got "00:00:00:00:00:00"'],
    [{ deviceID: '0000:03:02' }, 'deviceID: must be a PCI address like 0000:03:02.3; got "0000:03:02"'],
    [{ deviceID: '../../etc' }, 'deviceID: must be a PCI address like 0000:03:02.3; got "../../etc"'],
    [{ pciBusID: 'x' }, 'pciBusID: must be a PCI address like 0000:03:02.3; got "x"'],
    [
      { runtimeConfig: { deviceID: 'x' } },
      'runtimeConfig.deviceID: must be a PCI address like 0000:03:02.3; got "x"',
    ],
    [{ dataDir: '' }, 'dataDir: must be an absolute path; got ""'],
    [{ dataDir: 'var/lib/sriov' }, 'dataDir: must be an absolute path; got "var/lib/sriov"'],
  ])('refuses %j as error 7 naming the field and value', (raw, msg) => {
    const err = parseError(raw);
    expect(err.code).toBe(7);
    expect(err.message).toBe(msg);
  });

  it('validates CNI_ARGS MAC and names where a bad MAC came from', () => {
    expect(parseError({}, args({ MAC: 'zz' })).message).toMatch(/^CNI_ARGS MAC: must be a MAC address/);
    expect(parseError({ runtimeConfig: { mac: '03:00:00:00:00:01' } }).message).toMatch(
      /^runtimeConfig\.mac: must be a unicast/,
    );
  });

  it('ignores unknown fields', () => {
    expect(parse({ somethingElse: { a: 1 }, OrigVfState: {} }).want).toEqual({});
  });
});
