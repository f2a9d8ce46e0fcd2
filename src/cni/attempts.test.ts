import { describe, expect, it } from 'vitest';
import { Attempts, combineFailures } from './attempts.ts';
import { CniError, Code } from './errors.ts';

describe('Attempts', () => {
  it('runs every step after a failure and reports them together, with the first code', async () => {
    const ran: string[] = [];
    const steps = new Attempts();
    await steps.run(() => {
      ran.push('a');
      throw new CniError(Code.TryAgainLater, 'lock of "net1" timed out');
    });
    expect(await steps.run(() => ran.push('b'))).toBe(true);
    await steps.run(async () => {
      ran.push('c');
      throw new Error('EBUSY');
    });
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(() => steps.throwIfFailed('DEL steps failed')).toThrow(
      expect.objectContaining({
        code: 11,
        message: '2 of 3 DEL steps failed: lock of "net1" timed out; EBUSY',
      }),
    );
  });

  it('throws a single failure as it is, and nothing when all worked', async () => {
    const one = new CniError(Code.InvalidConfig, 'ipam.type: is required');
    const steps = new Attempts();
    await steps.run(() => undefined);
    expect(() => steps.throwIfFailed()).not.toThrow();
    steps.fail(one);
    expect(() => steps.throwIfFailed()).toThrow(one);
  });

  it('turns what is not a CniError into code 999', () => {
    expect(combineFailures([new Error('boom')], 1, 'x')).toMatchObject({ code: 999, message: 'boom' });
  });
});
