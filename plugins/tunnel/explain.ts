/**
 * tunnel's dry run (`manifold explain`): the tunnel device ADD would make in the pod — its
 * mode, endpoints, key or VNI — and the MTU it would get: the configured one, or the
 * underlay's minus the mode's overhead, forecast from the master's MTU on this node when it
 * can be read (the same overhead function ADD uses).
 */
import { q } from '../../src/cni/errors.ts';
import {
  type ExplainContext,
  type Explainer,
  type Forecast,
  linkForecast,
  podL3,
} from '../../src/cni/explain.ts';
import { netdevMtu } from '../../src/kernel/netdev.ts';
import { tunnelOverhead } from '../../src/kernel/tunnels.ts';
import { hostVethName } from './bridged.ts';
import { parseTunnelConf } from './config.ts';

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const conf = parseTunnelConf(ctx.raw, ctx.cniArgs);
    const ipam = await ctx.ipam();
    const bridged = conf.bridge !== undefined;
    const l3 = podL3(ipam, bridged ? 2 : 0, conf.dns);
    const remote = conf.effectiveRemote;
    const overhead = tunnelOverhead({
      kind: conf.kind,
      okey: conf.effectiveOkey,
      encapLimit: conf.encapLimit,
      remote: remote ?? '',
    });
    const masterMtu = conf.master ? netdevMtu(conf.master) : undefined;
    const forecast = conf.mtu || (masterMtu !== undefined ? masterMtu - overhead : undefined);
    const mtuNote = conf.mtu
      ? `MTU ${conf.mtu} (configured; at most the underlay's MTU - ${overhead})`
      : masterMtu !== undefined
        ? `MTU ${forecast}: master ${q(conf.master)}'s ${masterMtu} - ${overhead} bytes of ${conf.kind} headers`
        : `MTU: the underlay's MTU - ${overhead} bytes of ${conf.kind} headers (underlay: ${conf.master ? `master ${q(conf.master)}, not on this node` : 'the interface of the route to the remote, decided at ADD'})`;
    const ident =
      conf.kind === 'geneve'
        ? `VNI ${conf.effectiveVni ?? '<per pod>'}, UDP port ${conf.effectivePort}`
        : conf.effectiveIkey === undefined && conf.effectiveOkey === undefined
          ? 'no key'
          : `ikey ${conf.effectiveIkey ?? 'none'}, okey ${conf.effectiveOkey ?? 'none'}`;
    const notes = [
      `${conf.kind} tunnel (${conf.l2 ? 'L2: Ethernet' : 'L3: IP'}) to ${remote ? `${conf.remoteField} ${remote}` : 'a remote given per pod (args.cni.remote or CNI_ARGS REMOTE)'}, from ${conf.local ?? "the master's address"}, ${ident}`,
      bridged
        ? `bridge mode: the tunnel stays in the host on bridge ${q(conf.bridge)}, shared by the pods with the same remote and key/VNI (made if missing, removed with the last pod); the pod gets a veth`
        : 'made in the host netns (its encapsulation stays there) and moved into the pod in the same request',
      mtuNote,
      ...(ipam ? l3.notes : ['no ipam: the interface is only brought up']),
    ];
    const pod = {
      name: ctx.ifname,
      sandbox: ctx.netns,
      ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
      ...(forecast ? { mtu: forecast } : {}),
    };
    return linkForecast(
      ctx,
      bridged
        ? [
            { name: conf.bridge ?? '' },
            { name: hostVethName({ conf, containerId: ctx.containerId, ifname: ctx.ifname }) },
            pod,
          ]
        : [pod],
      l3,
      ipam,
      notes,
    );
  },
};
