import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type VfRecord, VfStore } from './state.ts';

const root = mkdtempSync(join(tmpdir(), 'manifold-sriov-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const rec = (over: Partial<VfRecord> = {}): VfRecord => ({
  version: 1,
  pciAddress: '0000:01:10.0',
  pf: 'eth0',
  vfIndex: 0,
  dpdk: false,
  network: 'sriov-net',
  containerId: 'c1',
  ifname: 'net1',
  netns: '/run/netns/p1',
  phase: 'attached',
  original: {
    pf: {
      mac: '00:00:00:00:00:00',
      vlan: 0,
      qos: 0,
      vlanProto: '802.1q',
      spoofchk: true,
      trust: false,
      linkState: 'auto',
      minTxRate: 0,
      maxTxRate: 0,
    },
    netdev: { name: 'eth1', mac: '3e:a8:77:1d:42:6c', mtu: 1500, up: false },
  },
  applied: { vlan: { vlan: 100, qos: 3, proto: '802.1q' }, trust: true },
  ...over,
});

describe('VF records', () => {
  it('writes atomically with mode 0600 in a 0700 directory and reads back the same record', () => {
    const dir = join(root, 'a', 'sriov');
    const store = new VfStore(dir);
    expect(store.read('0000:01:10.0')).toBeUndefined();
    expect(store.list()).toEqual([]);
    store.write(rec());
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '0000:01:10.0.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['0000:01:10.0.json']);
    expect(store.read('0000:01:10.0')).toEqual(rec());
    store.write(rec({ phase: 'released' }));
    expect(store.read('0000:01:10.0')?.phase).toBe('released');
    store.remove('0000:01:10.0');
    store.remove('0000:01:10.0');
    expect(store.read('0000:01:10.0')).toBeUndefined();
  });

  it('finds an attachment by its VF, else by scanning; never someone else’s', () => {
    const store = new VfStore(join(root, 'b'));
    store.write(rec());
    store.write(rec({ pciAddress: '0000:01:10.2', vfIndex: 1, containerId: 'c2' }));
    store.write(rec({ pciAddress: '0000:01:10.4', vfIndex: 2, network: 'other', containerId: 'c3' }));
    expect(store.find('sriov-net', 'c2', 'net1', '0000:01:10.2')?.vfIndex).toBe(1);
    expect(store.find('sriov-net', 'c2', 'net1', '0000:01:10.0')?.vfIndex).toBe(1);
    expect(store.find('sriov-net', 'c2', 'net1')?.vfIndex).toBe(1);
    expect(store.find('sriov-net', 'c3', 'net1')).toBeUndefined();
    expect(store.find('sriov-net', 'c1', 'net2')).toBeUndefined();
    expect(store.list().map((r) => r.pciAddress)).toEqual(['0000:01:10.0', '0000:01:10.2', '0000:01:10.4']);
  });

  it('ignores files that are not records, and unreadable records', () => {
    const dir = join(root, 'c');
    const store = new VfStore(dir);
    store.write(rec());
    writeFileSync(join(dir, '0000:01:10.2.json'), '{"version":1}');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    expect(store.read('0000:01:10.2')).toBeUndefined();
    expect(store.list().map((r) => r.pciAddress)).toEqual(['0000:01:10.0']);
  });

  it('locks one VF at a time', async () => {
    const store = new VfStore(join(root, 'd'));
    const l1 = await store.lock('0000:01:10.0');
    const l2 = await store.lock('0000:01:10.2');
    let second = false;
    const waiting = store.lock('0000:01:10.0').then((l) => {
      second = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(second).toBe(false);
    l1.release();
    (await waiting).release();
    expect(second).toBe(true);
    l2.release();
  });
});
