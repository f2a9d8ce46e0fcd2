import { describe, expect, it } from 'vitest';
import { cniErrorOf } from '../../test/helpers/skel.ts';
import { parseMetaConf } from './config.ts';
import { delegatesFromConfig } from './delegates.ts';

const base = {
  cniVersion: '1.1.0',
  name: 'n',
  type: 'manifold',
  delegates: [{ name: 'a', type: 'macvlan' }],
};

describe('multi-homing options in the meta config', () => {
  it('are all off when absent', () => {
    const c = parseMetaConf(base);
    expect([
      c.policyRouting,
      c.announce,
      c.addressConflictCheck,
      c.gatewayCheck,
      c.multihomeSysctls,
      c.macFromIPv4,
    ]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it.each([
    [{ gatewayCheck: 'maybe' }, 'gatewayCheck: expected one of "off", "warn", "fail"; got "maybe"'],
    [{ policyRouting: 'yes' }, 'policyRouting: expected boolean, got string "yes"'],
    [{ probeCount: 11 }, 'probeCount: must have ≤ 10; got 11'],
    [{ probeIntervalMs: 5 }, 'probeIntervalMs: must have ≥ 10; got 5'],
    [{ macFromIPv4: '0a:58:00' }, 'macFromIPv4: must be two MAC octets like "0a:58"; got "0a:58:00"'],
    [
      { macFromIPv4: '01:00' },
      'macFromIPv4: must be a unicast prefix (the first octet even), e.g. "0a:58"; got "01:00"',
    ],
  ])('refuses %j as code 7 naming the field', (extra, msg) => {
    const e = cniErrorOf(() => parseMetaConf({ ...base, ...extra }));
    expect(e.code).toBe(7);
    expect(e.message).toBe(msg);
  });

  it('are accepted per delegate in its manifold object, and checked there', () => {
    const conf = parseMetaConf({
      ...base,
      delegates: [
        { name: 'a', type: 'macvlan' },
        { name: 'b', type: 'macvlan', manifold: { policyRouting: true } },
      ],
    });
    expect(delegatesFromConfig(conf).map((d) => d.multihome?.policyRouting)).toEqual([undefined, true]);
    const bad = parseMetaConf({
      ...base,
      delegates: [{ name: 'a', type: 'macvlan', manifold: { gatewayCheck: 1 } }],
    });
    const e = cniErrorOf(() => delegatesFromConfig(bad));
    expect(e.message).toBe(
      'delegates[0].manifold.gatewayCheck: expected one of "off", "warn", "fail"; got 1',
    );
  });
});
