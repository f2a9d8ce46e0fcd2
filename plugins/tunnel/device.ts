/**
 * The tunnel device of an attachment: its underlay (master and local address, found from the
 * route to the remote when not configured), the kernel spec built from the config, its MTU
 * (the underlay's minus the mode's overhead), and the comparison CHECK makes.
 */
import { resolveMaster } from '../../src/attach/master.ts';
import { CniError, Code, invalidConfig, q } from '../../src/cni/errors.ts';
import { equalIP, parseIP } from '../../src/ip/ip.ts';
import * as addr from '../../src/kernel/addr.ts';
import * as link from '../../src/kernel/link.ts';
import * as route from '../../src/kernel/route.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import { type TunnelSpec, tunnelInfo, tunnelOverhead } from '../../src/kernel/tunnels.ts';
import type { TunnelConf } from './config.ts';

const HOST = 'in the host netns';

export interface Underlay {
  readonly master: link.Link;
  /** Undefined for geneve (no local address in the kernel). */
  readonly local: string | undefined;
}

/** remote, or a code 7 saying where it may come from. */
export function requireRemote(conf: TunnelConf): string {
  if (!conf.effectiveRemote) {
    throw invalidConfig(
      'remote',
      'not set: give it in the config, per pod in args.cni.remote (the pod annotation\'s "cni-args"), or in CNI_ARGS REMOTE',
    );
  }
  return conf.effectiveRemote;
}

export function requireVni(conf: TunnelConf): number | undefined {
  if (conf.kind !== 'geneve') return undefined;
  if (conf.effectiveVni === undefined) {
    throw invalidConfig('vni', 'not set: geneve needs a VNI, in the config, args.cni.vni or CNI_ARGS VNI');
  }
  return conf.effectiveVni;
}

/** The master (named, else the interface of the host's route to the remote) and the local address. */
export async function resolveUnderlay(h: Rtnl, conf: TunnelConf, remote: string): Promise<Underlay> {
  const family = parseIP(remote)?.family ?? 4;
  let master: link.Link;
  let routeSrc: string | undefined;
  if (conf.master) {
    master = await resolveMaster(h, conf.master, HOST);
  } else {
    const r = await route.lookup(h, remote);
    const l = r ? await link.byIndex(h, r.oif) : undefined;
    if (!r || !l) {
      throw invalidConfig(
        'master',
        `not set, and the host has no route to ${conf.remoteField} ${q(remote)} to take it from`,
      );
    }
    if (l.name === 'lo') {
      throw invalidConfig(
        conf.remoteField,
        `${q(remote)} is an address of this host: a tunnel needs a remote peer`,
      );
    }
    master = l;
    routeSrc = r.src;
  }
  if (conf.kind === 'geneve') return { master, local: undefined };
  if (conf.local) return { master, local: conf.local };
  if (routeSrc) return { master, local: routeSrc };
  const addrs = await addr.list(h, { index: master.index, family });
  const global = addrs.find((a) => a.scope === 0);
  if (!global) {
    throw invalidConfig(
      'local',
      `not set, and master ${q(master.name)} has no global IPv${family} address to take it from`,
    );
  }
  return { master, local: global.cidr.split('/')[0] };
}

export function tunnelSpec(conf: TunnelConf, remote: string, u: Underlay): TunnelSpec {
  const geneve = conf.kind === 'geneve';
  return {
    kind: conf.kind,
    remote,
    local: u.local,
    underlay: geneve ? undefined : u.master.index,
    ikey: conf.effectiveIkey,
    okey: conf.effectiveOkey,
    vni: geneve ? requireVni(conf) : undefined,
    port: geneve ? conf.effectivePort : undefined,
    ttl: conf.ttl,
    tos: conf.tos,
    pmtudisc: conf.pmtudisc,
    encapLimit: conf.encapLimit,
  };
}

/** The MTU of the tunnel device: `mtu`, or the most the underlay carries; more is refused. */
export function effectiveMtu(conf: TunnelConf, spec: TunnelSpec, master: link.Link): number {
  const overhead = tunnelOverhead(spec);
  const max = master.mtu - overhead;
  if (!conf.mtu) return max;
  if (conf.mtu > max) {
    throw invalidConfig(
      'mtu',
      `${conf.mtu} is larger than ${max}, the most a ${conf.kind} tunnel over master ${q(master.name)} (MTU ${master.mtu}, ${overhead} bytes of outer headers) can carry`,
    );
  }
  return conf.mtu;
}

function sameIP(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = parseIP(a);
  const y = parseIP(b);
  return !!x && !!y && equalIP(x, y);
}

/** The first way `l` differs from `want`, or undefined. */
export function tunnelMismatch(l: link.Link, want: TunnelSpec, mtu: number): string | undefined {
  const show = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
  if (l.kind !== want.kind) return `is of kind ${q(l.kind ?? 'unknown')}, config says mode ${q(want.kind)}`;
  const have = tunnelInfo(l);
  if (!sameIP(have.remote, want.remote))
    return `has remote ${show(have.remote)}, config says ${show(want.remote)}`;
  if (want.local !== undefined && !sameIP(have.local, want.local))
    return `has local ${show(have.local)}, config says ${show(want.local)}`;
  if (want.underlay !== undefined && have.underlay !== want.underlay)
    return `has underlay device index ${show(have.underlay)}, the master is index ${want.underlay}`;
  if (have.ikey !== want.ikey) return `has ikey ${show(have.ikey)}, config says ${show(want.ikey)}`;
  if (have.okey !== want.okey) return `has okey ${show(have.okey)}, config says ${show(want.okey)}`;
  if (want.vni !== undefined && have.vni !== want.vni)
    return `has VNI ${show(have.vni)}, config says ${want.vni}`;
  if (want.port !== undefined && have.port !== want.port)
    return `has UDP port ${show(have.port)}, config says ${want.port}`;
  if (want.ttl !== undefined && have.ttl !== want.ttl)
    return `has ttl ${show(have.ttl)}, config says ${want.ttl}`;
  if (want.encapLimit !== undefined && have.encapLimit !== want.encapLimit)
    return `has encapsulation limit ${show(have.encapLimit)}, config says ${show(want.encapLimit)}`;
  if (l.mtu !== mtu) return `has MTU ${l.mtu}, expected ${mtu}`;
  return undefined;
}

export function verifyTunnel(l: link.Link, want: TunnelSpec, mtu: number): void {
  if (l.linkNetnsId === undefined && l.kind !== 'geneve') {
    throw new CniError(
      Code.Internal,
      `${want.kind} ${q(l.name)} encapsulates in the pod's own netns: it lost its link netns (the host's)`,
    );
  }
  const problem = tunnelMismatch(l, want, mtu);
  if (problem) throw new CniError(Code.Internal, `${want.kind} ${q(l.name)} ${problem}`);
}
