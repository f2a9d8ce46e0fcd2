/**
 * Bounded probing over packet sockets. Each probe sends its frame `rounds` times,
 * `intervalMs` apart, and reads what comes back until an answer settles it or its budget
 * (rounds × intervalMs) is spent. All probes run side by side from one start, so checking
 * several addresses and interfaces costs the longest budget, not their sum. The waits are on
 * the event loop (waitReadable), so a budget stalls no other call of a daemon.
 */
import { type Frame, type PacketSocket, waitReadable } from './packet.ts';

export interface Budget {
  readonly rounds: number;
  readonly intervalMs: number;
}

export interface Probe<R> {
  readonly socket: PacketSocket;
  readonly budget: Budget;
  /** Sends this probe's frame for one round. */
  send(): void;
  /** The answer a received frame gives, or undefined to keep listening. */
  match(frame: Frame): R | undefined;
}

/** The addon polls at most this many sockets at once; more are probed in further batches. */
const MAX_SOCKETS = 64;

/** Each probe's answer, or undefined when none came within its budget. */
export async function runProbes<R>(probes: readonly Probe<R>[]): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = probes.map(() => undefined);
  let batch: number[] = [];
  let sockets = new Set<PacketSocket>();
  for (const [i, p] of probes.entries()) {
    if (!sockets.has(p.socket) && sockets.size === MAX_SOCKETS) {
      await runBatch(probes, batch, results);
      batch = [];
      sockets = new Set();
    }
    sockets.add(p.socket);
    batch.push(i);
  }
  if (batch.length > 0) await runBatch(probes, batch, results);
  return results;
}

async function runBatch<R>(
  probes: readonly Probe<R>[],
  batch: readonly number[],
  results: (R | undefined)[],
): Promise<void> {
  const start = performance.now();
  const sent = new Map(batch.map((i) => [i, 0]));
  const probe = (i: number) => probes[i] as Probe<R>;
  const end = (i: number) => start + probe(i).budget.rounds * probe(i).budget.intervalMs;
  for (;;) {
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [i, n] of sent) {
      const { rounds, intervalMs } = probe(i).budget;
      let k = n;
      for (; k < rounds && start + k * intervalMs <= now; k++) probe(i).send();
      sent.set(i, k);
      if (k >= rounds && now >= end(i)) sent.delete(i);
      else next = Math.min(next, k < rounds ? start + k * intervalMs : end(i));
    }
    if (sent.size === 0) return;
    const ready = await waitReadable([...new Set([...sent.keys()].map((i) => probe(i).socket))], next - now);
    if (!ready) continue;
    for (let frame = ready.recv(); frame; frame = ready.recv()) {
      for (const i of [...sent.keys()]) {
        if (probe(i).socket !== ready) continue;
        const answer = probe(i).match(frame);
        if (answer !== undefined) {
          results[i] = answer;
          sent.delete(i);
        }
      }
    }
  }
}
