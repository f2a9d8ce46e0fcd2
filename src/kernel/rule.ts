/** Routing policy rules (`ip rule`): list, add, delete — RTM_GETRULE/NEWRULE/DELRULE. */

import { q } from '../cni/errors.ts';
import { formatIP, parseCIDR } from '../ip/ip.ts';
import { isErrno, kernelFailure } from './errors.ts';
import { decodeAttrs, encodeAttrs, readU8, readU32, u8, u32 } from './nl/attrs.ts';
import { AF_INET, AF_INET6, FR_ACT_TO_TBL, FRA, NLM_F, RTM } from './nl/constants.ts';
import { FIB_RULE_HDR_LEN, fibRuleHdr, parseFibRuleHdr } from './nl/messages.ts';
import type { Rtnl } from './socket.ts';

/** A `from <src> lookup <table>` rule (the only kind manifold makes; others are listed too). */
export interface Rule {
  readonly family: 4 | 6;
  /** `from` selector as a CIDR; undefined: from all. */
  readonly src?: string | undefined;
  readonly table: number;
  readonly priority?: number | undefined;
  /** FRA_PROTOCOL: who made it (Linux ≥ 4.17). */
  readonly protocol?: number | undefined;
  /** FR_ACT_*; 1 (to table) for lookup rules. */
  readonly action?: number | undefined;
}

export function describeRule(r: Rule): string {
  return `${r.priority ?? ''}${r.priority === undefined ? '' : ': '}from ${r.src ?? 'all'} lookup ${r.table}`;
}

export async function list(h: Rtnl, family: 4 | 6): Promise<Rule[]> {
  const msgs = await h.dump(RTM.GETRULE, fibRuleHdr({ family: family === 4 ? AF_INET : AF_INET6 }));
  const out: Rule[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWRULE) continue;
    const hdr = parseFibRuleHdr(m.data);
    if (hdr.family !== (family === 4 ? AF_INET : AF_INET6)) continue;
    const attrs = decodeAttrs(m.data.subarray(FIB_RULE_HDR_LEN));
    const srcRaw = attrs.get(FRA.SRC);
    out.push({
      family,
      src: srcRaw ? `${formatIP({ family, bytes: new Uint8Array(srcRaw) })}/${hdr.srcLen}` : undefined,
      table: readU32(attrs.get(FRA.TABLE)) ?? hdr.table,
      priority: readU32(attrs.get(FRA.PRIORITY)) ?? 0, // the kernel leaves out priority 0
      protocol: readU8(attrs.get(FRA.PROTOCOL)),
      action: hdr.action,
    });
  }
  return out;
}

function body(r: Rule): Buffer {
  const src = r.src ? parseCIDR(r.src) : undefined;
  if (r.src && !src) throw new Error(`rule source ${q(r.src)} is not a CIDR`);
  return Buffer.concat([
    fibRuleHdr({
      family: r.family === 4 ? AF_INET : AF_INET6,
      srcLen: src?.prefix ?? 0,
      table: r.table < 256 ? r.table : 0,
      action: r.action ?? FR_ACT_TO_TBL,
    }),
    encodeAttrs([
      src ? [FRA.SRC, Buffer.from(src.ip.bytes)] : undefined,
      r.priority !== undefined ? [FRA.PRIORITY, u32(r.priority)] : undefined,
      [FRA.TABLE, u32(r.table)],
      r.protocol !== undefined ? [FRA.PROTOCOL, u8(r.protocol)] : undefined,
    ]),
  ]);
}

/** Adds a rule; an identical one already there is EEXIST (NLM_F_EXCL). */
export async function add(h: Rtnl, r: Rule): Promise<void> {
  try {
    await h.request(RTM.NEWRULE, body(r), NLM_F.CREATE | NLM_F.EXCL);
  } catch (err) {
    throw kernelFailure(`add rule "${describeRule(r)}"`, err);
  }
}

/** Deletes the rule matching every field given; a missing one is not an error. */
export async function remove(h: Rtnl, r: Rule): Promise<void> {
  try {
    await h.request(RTM.DELRULE, body(r));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return;
    throw kernelFailure(`delete rule "${describeRule(r)}"`, err);
  }
}
