import { describe, expect, it } from 'vitest';
import { callValue, inCall, inCallScope, type Slot, withCallValue } from './call.ts';

const released: string[] = [];
const NAMES: Slot<string[]> = { name: 'names', release: (v) => released.push(`names ${v.join(',')}`) };
const MARK: Slot<string> = { name: 'mark' };

describe('call scope', () => {
  it('keeps a value per call, made on first use and released when the call ends, on failure too', async () => {
    released.length = 0;
    expect(callValue(NAMES, () => ['x'])).toBeUndefined(); // outside a call: nothing is kept
    await inCall(async () => {
      expect(inCallScope()).toBe(true);
      callValue(NAMES, () => [] as string[])?.push('a');
      callValue(NAMES, () => [] as string[])?.push('b');
      expect(callValue(NAMES)).toEqual(['a', 'b']);
    });
    expect(released).toEqual(['names a,b']);
    await expect(
      inCall(async () => {
        callValue(NAMES, () => ['c']);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(released).toEqual(['names a,b', 'names c']);
    expect(inCallScope()).toBe(false);
  });

  it("gives overlapping calls their own values, and a nested call its caller's", async () => {
    const tick = () => new Promise((r) => setTimeout(r, 1));
    const seen = await Promise.all(
      ['one', 'two'].map((id) =>
        inCall(async () => {
          callValue(NAMES, () => [id]);
          await tick();
          await inCall(async () => {
            callValue(NAMES, () => [] as string[])?.push(`${id}-nested`);
          });
          await tick();
          return callValue(NAMES);
        }),
      ),
    );
    expect(seen).toEqual([
      ['one', 'one-nested'],
      ['two', 'two-nested'],
    ]);
  });

  it("sets a slot for part of a call only; what that part makes stays the call's", async () => {
    released.length = 0;
    await inCall(async () => {
      await withCallValue(MARK, 'inside', async () => {
        expect(callValue(MARK)).toBe('inside');
        callValue(NAMES, () => ['made inside']);
      });
      expect(callValue(MARK)).toBeUndefined();
      expect(callValue(NAMES)).toEqual(['made inside']);
      expect(released).toEqual([]);
    });
    expect(released).toEqual(['names made inside']);
    await withCallValue(MARK, 'alone', async () => {
      expect(inCallScope()).toBe(true); // outside a call it is one
      expect(callValue(MARK)).toBe('alone');
    });
  });
});
