/**
 * parseWith's messages for every kind of zod issue. zod/mini loads no locale, so an issue
 * without a message of ours carries only zod's fallback ("Invalid input"): each kind must be
 * put in words by validate.ts itself.
 */
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { type ConfigError, parseWith } from './validate.ts';

function problem(schema: z.ZodMiniType, data: unknown): string {
  try {
    parseWith(schema, data);
  } catch (err) {
    const e = err as ConfigError;
    expect(e.code).toBe(7);
    return e.message;
  }
  throw new Error('parsed');
}

describe('parseWith messages without a zod locale', () => {
  it('names unknown keys of a strict object', () => {
    const s = z.strictObject({ a: z.optional(z.number()) });
    expect(problem(s, { b: 1 })).toBe('config: unknown key "b"');
    expect(problem(z.object({ o: s }), { o: { b: 1, c: 2 } })).toBe('o: unknown keys "b", "c"');
  });

  it('says what a union accepts when every option fails on the value', () => {
    const s = z.object({ ns: z.union([z.literal(''), z.string().check(z.minLength(2))]) });
    expect(problem(s, { ns: 3 })).toBe('ns: expected "" or string, got number 3');
    // one option got past the type: its own issue is reported
    expect(problem(s, { ns: 'x' })).toBe('ns: must have length ≥ 2; got "x"');
  });

  it('falls back to a general phrase for a union of shapes', () => {
    const s = z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]);
    expect(problem(s, {})).toBe('config: matches none of the allowed forms; got {}');
  });

  it('keeps our own messages of refine, superRefine and regex', () => {
    const even = z.number().check(z.refine((n) => n % 2 === 0, { message: 'must be even' }));
    expect(problem(even, 3)).toBe('config: must be even; got 3');
    const named = z.string().check(
      z.superRefine((s: string, ctx) => {
        if (s !== 'x') ctx.addIssue({ code: 'custom', message: `is not x: ${s}`, input: s });
      }),
    );
    expect(problem(named, 'y')).toBe('config: is not x: y; got "y"');
    const hex = z.string().check(z.regex(/^[0-9a-f]+$/, { message: 'must be hex' }));
    expect(problem(hex, 'z')).toBe('config: must be hex; got "z"');
  });

  it('describes checks that were given no message', () => {
    expect(problem(z.string().check(z.regex(/^a+$/)), 'b')).toBe('config: must match /^a+$/; got "b"');
    expect(problem(z.string().check(z.startsWith('x')), 'y')).toBe('config: must start with "x"; got "y"');
    expect(problem(z.number().check(z.multipleOf(4)), 6)).toBe('config: must be a multiple of 4; got 6');
    expect(problem(z.number().check(z.refine((n) => n > 1)), 0)).toBe('config: is invalid; got 0');
  });

  it('describes a bad record key', () => {
    const s = z.record(z.string().check(z.minLength(2)), z.number());
    expect(problem(s, { a: 1 })).toBe('a: invalid key: must have length ≥ 2; got "a"');
  });
});
