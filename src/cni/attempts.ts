/**
 * "Attempt every step, report every failure", the way libcni runs a DEL: used wherever one
 * failing step must not stop the others (a plugin's DEL, restoring a VF, GC, IPAM releases),
 * so that nothing that could still be released is left behind because something before it
 * failed. The failures become one CniError: the first one's code, every message.
 */
import { CniError, Code, describeError } from './errors.ts';

/** Any thrown value as a CniError (999 unless it is one). */
export function asCniError(err: unknown): CniError {
  return err instanceof CniError ? err : new CniError(Code.Internal, describeError(err), '', { cause: err });
}

/**
 * The failures of `total` steps as one error: a single failure as it is; several as
 * `<n> of <total> <what>: <message>; <message>` with the first one's code.
 */
export function combineFailures(failures: readonly unknown[], total: number, what: string): CniError {
  const errs = failures.map(asCniError);
  const first = errs[0] ?? new CniError(Code.Internal, `${what}: no failure recorded`);
  if (errs.length <= 1) return first;
  return new CniError(
    first.code,
    `${errs.length} of ${total} ${what}: ${errs.map((e) => e.message).join('; ')}`,
  );
}

/** A run of steps that are all attempted; `throwIfFailed` reports them together at the end. */
export class Attempts {
  readonly failures: unknown[] = [];
  #steps = 0;

  /** Runs one step; true when it succeeded (its failure is kept). */
  async run(step: () => unknown): Promise<boolean> {
    this.#steps++;
    try {
      await step();
      return true;
    } catch (err) {
      this.failures.push(err);
      return false;
    }
  }

  /** Counts a step that failed without running here (e.g. a delegate whose config is bad). */
  fail(err: unknown): void {
    this.#steps++;
    this.failures.push(err);
  }

  get failed(): boolean {
    return this.failures.length > 0;
  }

  /** Throws the failures as one error (see combineFailures); nothing when every step worked. */
  throwIfFailed(what = 'steps failed'): void {
    if (this.failed) throw combineFailures(this.failures, this.#steps, what);
  }
}
