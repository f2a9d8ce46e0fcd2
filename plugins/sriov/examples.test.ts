import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSriovConf } from './config.ts';

const file = (rel: string) => readFileSync(new URL(`../../conf.d-examples/${rel}`, import.meta.url), 'utf8');

describe('examples', () => {
  it('conf.d-examples/40-sriov.conf is a valid sriov config', () => {
    const c = parseSriovConf(JSON.parse(file('40-sriov.conf')) as Record<string, unknown>, new Map());
    expect(c).toMatchObject({ type: 'sriov', effectiveDeviceID: '0000:01:10.0' });
    expect(c.want).toEqual({
      vlan: { vlan: 100, qos: 3, proto: '802.1q' },
      maxTxRate: 500,
      spoofchk: true,
      trust: false,
    });
  });

  it('conf.d-examples/nad/sriov.yaml has the resourceName annotation and a valid config as a JSON string', () => {
    const yaml = file('nad/sriov.yaml');
    expect(yaml).toMatch(/^apiVersion: k8s\.cni\.cncf\.io\/v1$/m);
    expect(yaml).toMatch(/^kind: NetworkAttachmentDefinition$/m);
    expect(yaml).toMatch(/^ {4}k8s\.v1\.cni\.cncf\.io\/resourceName: intel\.com\/sriov_netdevice$/m);
    const lines = yaml.split('\n');
    const at = lines.findIndex((l) => /^ {2}config: \|-$/.test(l));
    const body = lines.slice(at + 1).filter((l) => l.startsWith('    ') || l === '');
    const raw = JSON.parse(body.map((l) => l.slice(4)).join('\n')) as Record<string, unknown>;
    // Multus injects the device plugin's VF as deviceID (and as the runtimeConfig capability).
    const c = parseSriovConf({ ...raw, runtimeConfig: { deviceID: '0000:03:02.3' } }, new Map());
    expect(c).toMatchObject({ name: 'sriov-net', effectiveDeviceID: '0000:03:02.3' });
  });
});
