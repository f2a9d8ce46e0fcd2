/**
 * The sriov plugin's verbs through the skel, as far as they run without root or hardware: a
 * fake sysfs (MANIFOLD_SYSFS_ROOT), a temp dataDir, and a scripted IPAM (the invoker). What
 * needs the kernel — taking the VF, PF-side settings, moving it into the pod — is the
 * integration and vm tiers' (test/integration/sriov*.test.ts, test/vm).
 * - ADD refuses before anything changes: no deviceID (7), a device that is not there (999 with
 *   a hint), a PCI device that is no VF (7 naming deviceID); nothing is recorded.
 * - DEL without a record of the attachment is done: IPAM released, the temp file of a killed
 *   first write removed; a failed IPAM DEL is reported after the VF part.
 * - CHECK without an attached VF fails; STATUS looks the VF up in sysfs (50 when missing).
 * - GC with no stale VF gives IPAM its valid attachments.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.ts';
import { FakeInvoker } from '../../test/helpers/fake-invoker.ts';
import { FakeSysfs } from '../../test/helpers/fake-sysfs.ts';
import { builtinLoader, runWith } from '../../test/helpers/skel.ts';

const sysfs = new FakeSysfs()
  .addPf('0000:01:00.0', 'enp1s0f0')
  .addVf('0000:01:00.0', 0, '0000:01:10.0', { netdev: 'enp1s0f0v0' })
  .addVf('0000:01:00.0', 1, '0000:01:10.1', { driver: 'vfio-pci' })
  .addPlain('0000:02:00.0', 'eno1');
const work = mkdtempSync(join(tmpdir(), 'manifold-sriov-unit-'));
afterAll(() => {
  sysfs.cleanup();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function call(verb: string, over: Record<string, unknown> = {}, ipam?: FakeInvoker) {
  const dataDir = join(work, `data${++n}`);
  const conf = {
    cniVersion: '1.1.0',
    name: 'sriov-net',
    type: 'sriov',
    dataDir,
    ipam: { type: 'fake-ipam', subnet: '10.56.0.0/24' },
    ...over,
  };
  const env = {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: '/run/netns/manifold-sriov-unit-does-not-exist',
    CNI_IFNAME: 'net1',
    CNI_PATH: '/nonexistent',
    MANIFOLD_SYSFS_ROOT: sysfs.root,
  };
  const invoker = ipam ?? new FakeInvoker({ 'fake-ipam': {} });
  return {
    dataDir,
    invoker,
    run: () => runWith(builtinLoader('sriov'), env, JSON.stringify(conf), 'sriov', invoker),
  };
}

describe('sriov ADD refuses before anything changes', () => {
  it('without a deviceID: code 7 naming it, before IPAM', async () => {
    const c = call('ADD', { deviceID: undefined });
    const r = await c.run();
    expect(r.json).toEqual({
      cniVersion: '1.1.0',
      code: 7,
      msg: 'deviceID: is required: the PCI address of the VF (or runtimeConfig.deviceID)',
    });
    expect((c.invoker as FakeInvoker).calls).toEqual([]);
  });

  it('for a PCI address with no device: code 999 with a hint, nothing recorded', async () => {
    const c = call('ADD', { deviceID: '0000:01:10.7' });
    const r = await c.run();
    expect(r.json).toMatchObject({
      code: 999,
      msg: `failed to find VF "0000:01:10.7": no PCI device ${JSON.stringify(join(sysfs.root, 'bus/pci/devices/0000:01:10.7'))}`,
      details: 'are the VFs created (sriov_numvfs) and is deviceID right?',
    });
    expect(existsSync(c.dataDir) ? readdirSync(c.dataDir) : []).toEqual([]);
  });

  it('for a PCI device that is no VF: code 7 naming deviceID', async () => {
    const c = call('ADD', { runtimeConfig: { deviceID: '0000:02:00.0' } });
    const r = await c.run();
    expect(r.json).toMatchObject({
      code: 7,
      msg: 'deviceID: "0000:02:00.0" is not an SR-IOV virtual function (no physfn link)',
    });
    expect(existsSync(c.dataDir) ? readdirSync(c.dataDir) : []).toEqual([]);
  });
});

describe('sriov DEL without a recorded VF', () => {
  it('releases the addresses (IPAM DEL with the whole config) and succeeds', async () => {
    const c = call('DEL', { deviceID: '0000:01:10.0' });
    const r = await c.run();
    expect([r.code, r.stdout]).toEqual([0, '']);
    const fake = c.invoker as FakeInvoker;
    expect(fake.trace()).toEqual(['DEL fake-ipam (ipam) net1']);
    expect(fake.calls[0]?.conf).toMatchObject({ name: 'sriov-net', type: 'sriov', deviceID: '0000:01:10.0' });
  });

  it('removes the temp file a killed first write of the record left', async () => {
    const c = call('DEL', { deviceID: '0000:01:10.0' });
    mkdirSync(c.dataDir, { recursive: true });
    const temp = join(c.dataDir, '.0000:01:10.0.json.4242.abcd.tmp');
    writeFileSync(temp, '{"version":1');
    const r = await c.run();
    expect(r.code).toBe(0);
    expect(existsSync(temp)).toBe(false);
  });

  it("reports IPAM's failure (after the VF part), with its code", async () => {
    const ipam = new FakeInvoker({ 'fake-ipam': { answers: { DEL: new CniError(11, 'store locked') } } });
    const r = await call('DEL', { deviceID: '0000:01:10.0' }, ipam).run();
    expect(r.json).toMatchObject({ code: 11, msg: 'store locked' });
  });
});

describe('sriov CHECK, STATUS, GC', () => {
  it('CHECK fails when no VF is attached for the container and interface', async () => {
    const prevResult = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.56.0.5/24', interface: 0 }],
    };
    const c = call('CHECK', { deviceID: '0000:01:10.0', prevResult });
    const r = await c.run();
    expect(r.json).toMatchObject({ code: 999, msg: 'no VF is attached for container "c1" interface "net1"' });
    // IPAM was asked first, with the prevResult
    expect((c.invoker as FakeInvoker).trace()).toEqual(['CHECK fake-ipam (ipam) net1']);
  });

  it('STATUS finds the VF (netdev or DPDK) in sysfs, and asks an IPAM that speaks 1.1.0', async () => {
    for (const deviceID of ['0000:01:10.0', '0000:01:10.1']) {
      const ipam = new FakeInvoker({
        'fake-ipam': { answers: { VERSION: { cniVersion: '1.1.0', supportedVersions: ['1.0.0', '1.1.0'] } } },
      });
      const r = await call('STATUS', { deviceID }, ipam).run();
      expect([r.code, r.stdout]).toEqual([0, '']);
      expect(ipam.trace()).toEqual(['VERSION fake-ipam (ipam) net1', 'STATUS fake-ipam (ipam) net1']);
    }
  });

  it('STATUS says code 50 when the configured VF is not there', async () => {
    const r = await call('STATUS', { deviceID: '0000:01:10.6' }).run();
    expect(r.json).toMatchObject({
      code: 50,
      msg: expect.stringMatching(/^failed to find VF "0000:01:10.6"/),
    });
  });

  it('GC with no stale VF hands IPAM the valid attachments', async () => {
    const valid = [{ containerID: 'c2', ifname: 'net1' }];
    const c = call('GC', { 'cni.dev/valid-attachments': valid });
    const r = await c.run();
    expect(r.code).toBe(0);
    const fake = c.invoker as FakeInvoker;
    expect(fake.of('GC').map((x) => x.conf['cni.dev/valid-attachments'])).toEqual([valid]);
  });
});
