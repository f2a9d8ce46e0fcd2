/**
 * The kernel's IPv6 duplicate address detection, read back: whether it runs for an address
 * at all (accept_dad, nodad, NOARP), and its verdict, waited for no longer than the kernel
 * itself can take (router_solicitation_delay + dad_transmits × retrans_time_ms, plus slack).
 */
import type { Pod } from '../../attach/pod.ts';
import { CniError, Code, q } from '../../cni/errors.ts';
import { equalIP, parseCIDR, parseIP } from '../../ip/ip.ts';
import * as addr from '../../kernel/addr.ts';
import * as sysctl from '../../kernel/sysctl.ts';
import { noArp, type View, where } from './views.ts';

const IFA_F = { NODAD: 0x02, OPTIMISTIC: 0x04, DADFAILED: 0x08, TENTATIVE: 0x40 } as const;
const POLL_MS = 20;
const SLACK_MS = 500;

async function find(pod: Pod, v: View, ip: string): Promise<addr.Address | undefined> {
  const want = parseIP(ip);
  return (await addr.list(pod.rtnl, { index: v.link.index, family: 6 })).find((a) => {
    const n = parseCIDR(a.cidr);
    return n !== undefined && want !== undefined && equalIP(n.ip, want);
  });
}

function num(pod: Pod, key: string, fallback: number): number {
  const s = sysctl.get(pod.ns, key);
  const n = s === undefined ? Number.NaN : Number(s);
  return Number.isFinite(n) ? n : fallback;
}

/** The kernel does no DAD for this address: we have to ask ourselves. */
export async function dadSkipped(pod: Pod, v: View, ip: string): Promise<boolean> {
  if (noArp(v)) return true;
  const a = await find(pod, v, ip);
  if (a && a.flags & IFA_F.NODAD) return true;
  const dev = v.link.name;
  return (
    num(pod, `net/ipv6/conf/${dev}/accept_dad`, 1) < 1 && num(pod, 'net/ipv6/conf/all/accept_dad', 0) < 1
  );
}

/** How long the kernel's DAD can take on this interface, at most. */
export function dadBoundMs(pod: Pod, v: View): number {
  const dev = v.link.name;
  const delayS = num(pod, `net/ipv6/conf/${dev}/router_solicitation_delay`, 1);
  const transmits = num(pod, `net/ipv6/conf/${dev}/dad_transmits`, 1);
  const retrans = num(pod, `net/ipv6/neigh/${dev}/retrans_time_ms`, 1000);
  return delayS * 1000 + transmits * retrans + SLACK_MS;
}

export type DadOutcome = 'ok' | 'failed' | 'tentative';

/** Waits (bounded) until the address is no longer tentative; `failed` on dadfailed. */
export async function dadOutcome(pod: Pod, v: View, ip: string): Promise<DadOutcome> {
  const deadline = performance.now() + dadBoundMs(pod, v);
  for (;;) {
    const a = await find(pod, v, ip);
    if (!a) {
      throw new CniError(Code.Internal, `failed to check address ${q(ip)} on ${where(v)}: it is gone`);
    }
    if (a.flags & IFA_F.DADFAILED) return 'failed';
    if (!(a.flags & (IFA_F.TENTATIVE | IFA_F.OPTIMISTIC))) return 'ok';
    if (performance.now() > deadline) return 'tentative';
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** dadOutcome for the conflict check: still tentative after the bound is an error too. */
export async function mustPassDad(pod: Pod, v: View, ip: string): Promise<DadOutcome> {
  const out = await dadOutcome(pod, v, ip);
  if (out === 'tentative') {
    throw new CniError(
      Code.Internal,
      `failed to check address ${q(ip)} on ${where(v)}: still tentative after ${dadBoundMs(pod, v)} ms (no carrier?)`,
    );
  }
  return out;
}
