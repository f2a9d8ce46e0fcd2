import { describe, expect, it } from 'vitest';
import { CniError } from '../cni/errors.ts';
import type { Result } from '../cni/result.ts';
import type { Ipam } from '../ipam/client.ts';
import { allocate, l3Of } from './l3.ts';
import { transaction, Undo } from './undo.ts';

/** An IPAM that answers ADD with `result` and records its calls. */
function fakeIpam(result: Result) {
  const calls: string[] = [];
  const ipam: Ipam = {
    type: 'fake-ipam',
    add: async () => {
      calls.push('ADD');
      return result;
    },
    del: async () => {
      calls.push('DEL');
    },
    check: async () => undefined,
    status: async () => undefined,
    gc: async () => undefined,
  };
  return { ipam, calls };
}

const ADDRESSED: Result = {
  cniVersion: '1.1.0',
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: { nameservers: ['10.1.0.53'] },
};

describe('allocate (every built-in IPAM ADD)', () => {
  it('returns the addresses and leaves their release to the undo of a failed ADD', async () => {
    const { ipam, calls } = fakeIpam(ADDRESSED);
    const undo = new Undo();
    const r = await allocate(ipam, undo);
    expect(r.ips).toEqual(ADDRESSED.ips);
    expect(calls).toEqual(['ADD']);
    await undo.run();
    expect(calls).toEqual(['ADD', 'DEL']);
  });

  it('refuses a result without addresses, and releases what the IPAM may hold', async () => {
    const { ipam, calls } = fakeIpam({ cniVersion: '1.1.0', ips: [] });
    const err = await transaction((undo) => allocate(ipam, undo)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ code: 999, message: 'IPAM plugin "fake-ipam" returned missing IP config' });
    expect(calls).toEqual(['ADD', 'DEL']);
  });

  it('numbers the addresses for the interface at their position in the result', () => {
    expect(l3Of(ADDRESSED, 2)).toEqual({
      ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.1.0.53'] },
    });
  });
});
