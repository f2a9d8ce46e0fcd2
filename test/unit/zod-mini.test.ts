/**
 * The shipped code builds its schemas with zod/mini only. One import of zod classic (`'zod'`,
 * `'zod/v4'`) would bundle classic zod beside mini and load its English locale at start-up:
 * a few ms on every CNI call (bench/README.md).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../helpers/imports.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const ALLOWED = new Set(['zod/mini']);
/** `from 'zod…'`, `import 'zod…'`, `import('zod…')`, `require('zod…')`. */
const ZOD = /\b(?:from|import|require)\s*\(?\s*['"](zod(?:\/[^'"]*)?)['"]/g;

describe('zod imports', () => {
  it('are zod/mini in every file of src/ and plugins/', () => {
    const files = [...sourceFiles(ROOT, 'src'), ...sourceFiles(ROOT, 'plugins')];
    const bad = files.flatMap((f) =>
      [...readFileSync(join(ROOT, f), 'utf8').matchAll(ZOD)]
        .map((m) => m[1] ?? '')
        .filter((s) => !ALLOWED.has(s))
        .map((s) => `${f}: ${s}`),
    );
    expect(bad).toEqual([]);
  });
});
