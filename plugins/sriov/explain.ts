/**
 * sriov's dry run (`manifold explain`): the VF the config (or the device plugin, through
 * `deviceID`) names, found in sysfs as ADD finds it — its PF, its index, netdev or DPDK mode —
 * with the PF-side settings ADD would apply and IPAM's addresses. sysfs is only read; on a
 * host without that VF the forecast says so and assumes a netdev VF.
 */
import { describeError, invalidConfig, q } from '../../src/cni/errors.ts';
import {
  type ExplainContext,
  type Explainer,
  type Forecast,
  linkForecast,
  podL3,
} from '../../src/cni/explain.ts';
import { Sysfs, sysfsRoot } from '../../src/kernel/sysfs.ts';
import { parseSriovConf } from './config.ts';
import { discoverVf, isDpdkDriver } from './discover.ts';

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const conf = parseSriovConf(ctx.raw, ctx.cniArgs);
    const pci = conf.effectiveDeviceID;
    if (!pci)
      throw invalidConfig('deviceID', 'is required: the PCI address of the VF (or runtimeConfig.deviceID)');
    const notes: string[] = [];
    let dpdk = false;
    try {
      const dev = discoverVf(new Sysfs(sysfsRoot(ctx.env)), pci);
      dpdk = isDpdkDriver(dev.driver);
      notes.push(
        `VF ${pci}: VF ${dev.vfIndex} of PF ${q(dev.pf)}, driver ${dev.driver ?? 'none'}${dpdk ? ' (DPDK: no netdev, nothing configured in the pod)' : ''}`,
      );
    } catch (err) {
      notes.push(`VF ${pci} cannot be looked at on this host (${describeError(err)}): assumed a netdev VF`);
    }
    const w = conf.want;
    const pf = [
      w.vlan ? `vlan ${w.vlan.vlan} qos ${w.vlan.qos} ${w.vlan.proto}` : '',
      w.spoofchk !== undefined ? `spoofchk ${w.spoofchk ? 'on' : 'off'}` : '',
      w.trust !== undefined ? `trust ${w.trust ? 'on' : 'off'}` : '',
      w.mac ? `MAC ${w.mac}` : '',
      w.maxTxRate ? `max_tx_rate ${w.maxTxRate} Mbps` : '',
      w.minTxRate ? `min_tx_rate ${w.minTxRate} Mbps` : '',
      w.linkState ? `link_state ${w.linkState}` : '',
    ].filter(Boolean);
    if (pf.length > 0) notes.push(`PF-side settings: ${pf.join(', ')} (the originals are restored by DEL)`);
    const ipam = await ctx.ipam();
    const l3 = podL3(ipam, 0, conf.dns);
    notes.push(...(ipam ? l3.notes : ['no ipam: the interface is only brought up']));
    return linkForecast(
      ctx,
      [
        {
          name: ctx.ifname,
          sandbox: ctx.netns,
          pciID: pci,
          ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
        },
      ],
      l3,
      ipam,
      notes,
    );
  },
};
