/**
 * bridge: a host bridge (created if missing, never deleted by DEL) with the pod on a veth
 * pair — the pod end made straight in the pod under a temporary name and renamed to
 * CNI_IFNAME, the host end a bridge port. With isGateway the bridge holds the pods' gateway
 * address; ipMasq and macspoofchk are nftables rules. Result interfaces: [bridge, host veth,
 * pod interface] (+ the VLAN gateway interface with vlan and isGateway); IPs point at index 2.
 */
import { ensureBridge } from '../../src/attach/bridge.ts';
import { checkPodLink, resultInterface } from '../../src/attach/l3.ts';
import { attachmentOf, clearTempLink, removePodLink, withPod } from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { Attempts } from '../../src/cni/attempts.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { DNS, Interface, Result } from '../../src/cni/result.ts';
import { openIpam } from '../../src/ipam/client.ts';
import * as link from '../../src/kernel/link.ts';
import * as nft from '../../src/kernel/nft.ts';
import { hostRtnl } from '../../src/kernel/socket.ts';
import { checkBridgeAttachment } from './check.ts';
import { type BridgeConf, parseBridgeConf, validateForAdd } from './config.ts';
import * as host from './host.ts';
import { attachL3, type PodL3 } from './l3.ts';
import * as rules from './rules.ts';

type Ctx = PluginContext<BridgeConf>;

const HOST = 'in the host netns';

export function dnsSet(d: DNS | undefined): d is DNS {
  return (
    !!d && (d.nameservers !== undefined || d.search !== undefined || d.options !== undefined || !!d.domain)
  );
}

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  validateForAdd(conf, ctx.raw);
  const ipam = await openIpam(ctx);
  const h = hostRtnl();
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    await clearTempLink(pod, attachmentOf(ctx), 'veth');
    return transaction(async (undo) => {
      const br = await ensureBridge(h, {
        name: conf.brName,
        mtu: conf.mtu,
        vlanFiltering: conf.vlanFiltering,
        promisc: conf.promiscMode,
        ownRoutes: true,
      });
      if (br.created) {
        undo.push(`remove bridge ${q(conf.brName)}`, () => host.removeBridgeIfUnused(h, br.link));
      }

      const veth = await host.createVeth(h, pod, br.link, conf, attachmentOf(ctx));
      undo.push(`delete veth ${q(veth.hostName)}`, () => host.removeByName(h, veth.hostName));
      const hostVeth = await link.mustByName(h, veth.hostName, HOST);
      host.trySysctl(undefined, `net/ipv6/conf/${veth.hostName}/accept_ra`, '0');
      const podTmp = await link.mustByName(pod.rtnl, veth.podTmpName, `in netns ${q(pod.path)}`);
      await link.set(pod.rtnl, podTmp.index, { name: ctx.ifname }, `veth ${q(veth.podTmpName)}`);
      await host.configurePort(h, hostVeth, {
        hairpin: conf.hairpinMode === true,
        isolated: conf.portIsolation,
        vlan: conf.vlan ?? 0,
        trunk: conf.trunk,
        preserveDefaultVlan: conf.preserveDefaultVlan === true,
      });

      const interfaces: Interface[] = [
        { name: br.link.name },
        { name: veth.hostName },
        { name: ctx.ifname, sandbox: pod.path },
      ];
      const id = attachmentOf(ctx);
      const nftBatch: string[] = [];
      let l3: PodL3 | undefined;
      if (ipam) {
        l3 = await attachL3(h, pod, ctx.ifname, conf, ipam, br.link, undo);
        if (l3.vlanGateway) interfaces.push({ name: l3.vlanGateway });
        const addresses = l3.ips.map((ip) => ip.address);
        if (conf.ipMasq) nftBatch.push(...rules.masqRules(id, addresses));
      } else if (!conf.disableContainerInterface) {
        await link.set(pod.rtnl, podTmp.index, { up: true }, `interface ${q(ctx.ifname)}`);
      }

      const podLink = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
      if (conf.macspoofchk && podLink.mac) nftBatch.push(...rules.spoofRules(id, veth.hostName, podLink.mac));
      if (nftBatch.length > 0) {
        const which = { masq: conf.ipMasq === true && !!ipam, spoof: conf.macspoofchk === true };
        await nft.apply(`${nftBatch.join('\n')}\n`, `add nftables rules for ${q(ctx.ifname)}`);
        undo.push('remove nftables rules', () =>
          nft.apply(`${rules.teardown(id, which).join('\n')}\n`, 'remove nftables rules'),
        );
      }

      const hostNow = conf.disableContainerInterface
        ? await link.mustByName(h, veth.hostName, HOST)
        : await host.waitPortUp(h, veth.hostName);
      const brNow = await link.mustByName(h, conf.brName, HOST);
      fill(interfaces[0], brNow);
      fill(interfaces[1], hostNow);
      fill(interfaces[2], podLink);
      if (l3?.vlanGateway) fill(interfaces[3], await link.mustByName(h, l3.vlanGateway, HOST));
      return {
        cniVersion: ctx.cniVersion,
        interfaces,
        ips: l3?.ips ?? [],
        routes: l3?.routes ?? [],
        dns: dnsSet(conf.dns) ? conf.dns : l3?.dns,
      };
    });
  });
}

function fill(i: Interface | undefined, l: link.Link): void {
  if (!i) return;
  if (l.mac) i.mac = l.mac;
  i.mtu = l.mtu;
}

/**
 * DEL: the nftables rules, then the veth (its pair goes with it), then IPAM — the address is
 * released only once no interface holds it, as the reference orders it. Every step is tried;
 * the first error is reported.
 */
async function del(ctx: Ctx): Promise<void> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  const steps = new Attempts();
  const attempt = (fn: () => Promise<unknown>) => steps.run(fn);
  const which = { masq: conf.ipMasq === true && !!ipam, spoof: conf.macspoofchk === true };
  if (which.masq || which.spoof) {
    await attempt(async () => {
      try {
        await nft.apply(`${rules.teardown(attachmentOf(ctx), which).join('\n')}\n`, 'remove nftables rules');
      } catch (err) {
        // without nft, ADD could not have added any rule
        if (!(err instanceof nft.NftMissingError)) throw err;
      }
    });
  }
  await attempt(() => removePodLink(ctx.netns, attachmentOf(ctx), 'veth'));
  if (ipam) await attempt(() => ipam.del());
  steps.throwIfFailed('DEL steps failed');
}

async function check(ctx: CheckContext<BridgeConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.check(ctx.prevResult);
  const prev = ctx.prevResult;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    const podLink = await checkPodLink(pod, iface, 'veth');
    await checkBridgeAttachment(hostRtnl(), pod, ctx.conf, prev, podLink, index);
  });
}

/** Can ADD be served: the bridge name is free or a bridge, and IPAM is ready. */
async function status(ctx: Ctx): Promise<void> {
  const l = await link.byName(hostRtnl(), ctx.conf.brName);
  if (l && l.kind !== 'bridge') {
    throw new CniError(
      Code.CannotServeAdd,
      `${q(ctx.conf.brName)} exists in the host netns but is not a bridge (it is a ${l.kind ?? 'device'})`,
    );
  }
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

/** IPAM GC, and the nftables chains of this network whose attachment is no longer valid. */
async function gc(ctx: GcContext<BridgeConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.gc(ctx.validAttachments);
  if (!ctx.conf.ipMasq && !ctx.conf.macspoofchk) return;
  let chains: nft.NftChain[];
  try {
    chains = await nft.listChains();
  } catch (err) {
    if (err instanceof nft.NftMissingError) return;
    throw err;
  }
  const batch = rules.gcBatch(ctx.conf.name, chains, ctx.validAttachments);
  if (batch.length > 0) await nft.apply(`${batch.join('\n')}\n`, 'remove stale nftables rules');
}

export const plugin: Plugin<BridgeConf> = {
  type: 'bridge',
  parseConfig: parseBridgeConf,
  add,
  del,
  check,
  status,
  gc,
};
