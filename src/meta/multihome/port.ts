/**
 * The one packet socket of an ADD's multi-homing step: opened in the pod on first use, on
 * every interface and ethertype, shared by the checks and the announcements, closed once at
 * the end (each close costs the kernel an RCU grace period, ~10 ms).
 */
import type { Pod } from '../../attach/pod.ts';
import { q } from '../../cni/errors.ts';
import { type Frame, PacketSocket } from '../../kernel/packet.ts';
import { type View, where } from './views.ts';

export class Port {
  readonly #pod: Pod;
  #socket: PacketSocket | undefined;

  constructor(pod: Pod) {
    this.#pod = pod;
  }

  get socket(): PacketSocket {
    this.#socket ??= PacketSocket.open(this.#pod.ns, `netns ${q(this.#pod.path)}`);
    return this.#socket;
  }

  send(v: View, protocol: number, dst: string, payload: Buffer): void {
    this.socket.send(v.link.index, protocol, dst, payload, where(v));
  }

  close(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }
}

/** The frame came in on the view's interface with this ethertype. */
export function on(f: Frame, v: View, protocol: number): boolean {
  return f.ifindex === v.link.index && f.protocol === protocol;
}
