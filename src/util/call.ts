/**
 * The state of one CNI call, kept one way. A daemon serves many calls at once in one process,
 * so nothing a call keeps for itself (its netlink sockets, its batch of link removals) may sit
 * in a module variable: it sits in the call's scope, found through AsyncLocalStorage by the
 * async context, so calls that overlap never see each other's.
 *
 * The skel enters a scope around the verb (src/skel/dispatch.ts). An in-process delegate's
 * skel runs inside its caller's scope and joins it, so a whole call — every delegate, every
 * step — is one scope. Each value lives in a slot declared by the module that owns it
 * (src/kernel/socket.ts, src/kernel/removals.ts); a slot may say how its value is released,
 * which happens when the call ends, on failure too.
 *
 * Cost: node:async_hooks is already loaded by Node's own bootstrap (Node 24), so importing it
 * costs nothing measurable; the first AsyncLocalStorage is made when this module loads, which
 * only the calls that reach a verb do (never VERSION). getStore is about 50 ns.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** A kind of per-call value; `release` runs when the call that made the value ends. */
export interface Slot<T> {
  readonly name: string;
  readonly release?: (value: T) => void;
}

class Call {
  readonly values = new Map<Slot<never>, unknown>();

  end(): void {
    for (const [slot, value] of [...this.values].reverse()) {
      try {
        slot.release?.(value as never);
      } catch {
        // releasing one value must not keep the others
      }
    }
    this.values.clear();
  }
}

/** What the async context holds: the call, and the slots set for a part of it only. */
interface Frame {
  readonly call: Call;
  readonly local: ReadonlyMap<Slot<never>, unknown> | undefined;
}

const frames = new AsyncLocalStorage<Frame>();

/**
 * Runs `fn` as one call: inside a running call it joins that call, otherwise it is a new one,
 * whose values are released when `fn` is done.
 */
export async function inCall<T>(fn: () => Promise<T>): Promise<T> {
  if (frames.getStore()) return fn();
  const call = new Call();
  try {
    return await frames.run({ call, local: undefined }, fn);
  } finally {
    call.end();
  }
}

/** True inside a call. */
export function inCallScope(): boolean {
  return frames.getStore() !== undefined;
}

/**
 * The running call's value of `slot`: made by `make` on first use (then kept for the rest of
 * the call); undefined outside a call, or when there is none and no `make`.
 */
export function callValue<T>(slot: Slot<T>, make?: () => T): T | undefined {
  const frame = frames.getStore();
  if (!frame) return undefined;
  const key = slot as Slot<never>;
  if (frame.local?.has(key)) return frame.local.get(key) as T;
  if (frame.call.values.has(key)) return frame.call.values.get(key) as T;
  if (!make) return undefined;
  const value = make();
  frame.call.values.set(key, value);
  return value;
}

/**
 * Runs `fn` inside the running call (a new one when there is none) with `slot` set to `value`
 * for `fn` alone: every other slot is the call's own, and what `fn` makes in them stays the
 * call's. `value` is not released here: its owner finishes it when `fn` is done.
 */
export async function withCallValue<T, R>(slot: Slot<T>, value: T, fn: () => Promise<R>): Promise<R> {
  return inCall(() => {
    const frame = frames.getStore() as Frame;
    const local = new Map(frame.local);
    local.set(slot as Slot<never>, value);
    return frames.run({ call: frame.call, local }, fn);
  });
}
