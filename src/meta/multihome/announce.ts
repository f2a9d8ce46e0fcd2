/**
 * `announce`: the last step of ADD, once every check passed and every route is in place — a
 * gratuitous ARP for each IPv4 address and an unsolicited neighbour advertisement for each
 * IPv6 address (after the kernel's DAD settled: a tentative address must not be advertised),
 * so switches and neighbours that accept them learn the interface's MAC before any traffic.
 */
import type { Pod } from '../../attach/pod.ts';
import * as arp from '../../kernel/arp.ts';
import * as ndp from '../../kernel/ndp.ts';
import { BROADCAST, ETH_P_ARP, ETH_P_IPV6 } from '../../kernel/packet.ts';
import { log } from '../../util/log.ts';
import { dadOutcome } from './dad.ts';
import type { Port } from './port.ts';
import { addresses, noArp, type View, where } from './views.ts';

export async function announce(pod: Pod, port: Port, views: readonly View[]): Promise<void> {
  for (const v of views) {
    if (!v.plan.options.announce) continue;
    if (noArp(v)) {
      log.info(`announce: ${where(v)} does no ARP/NDP: nothing sent`);
      continue;
    }
    const mac = v.link.mac ?? '';
    for (const ip of addresses(v, 4)) port.send(v, ETH_P_ARP, BROADCAST, arp.announcement(mac, ip));
    for (const ip of addresses(v, 6)) {
      const dad = await dadOutcome(pod, v, ip);
      if (dad !== 'ok') {
        log.error(
          `announce: ${ip} on ${where(v)} is ${dad === 'failed' ? 'a duplicate' : 'still tentative'}: not advertised`,
        );
        continue;
      }
      const na = ndp.unsolicitedAdvertisement(mac, ip);
      port.send(v, ETH_P_IPV6, na.dst, na.packet);
    }
  }
}
