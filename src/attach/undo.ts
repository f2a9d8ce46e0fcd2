/**
 * Undo steps for an ADD that fails part-way: each step that created something registers how
 * to remove it; on failure they run in reverse, every one attempted, errors logged (the
 * original error is what the caller reports).
 */

import { describeError } from '../cni/errors.ts';
import { log } from '../util/log.ts';

export class Undo {
  readonly #steps: { what: string; fn: () => Promise<void> | void }[] = [];

  push(what: string, fn: () => Promise<void> | void): void {
    this.#steps.push({ what, fn });
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        log.error(`rollback: failed to ${step.what}: ${describeError(err)}`);
      }
    }
  }
}

/** Runs `fn`; if it throws, undoes what it registered and rethrows the original error. */
export async function transaction<T>(fn: (undo: Undo) => Promise<T>): Promise<T> {
  const undo = new Undo();
  try {
    return await fn(undo);
  } catch (err) {
    await undo.run();
    throw err;
  }
}
