/**
 * Scratch directories that remove themselves, on failure too: a test run leaves nothing in
 * the temp directory (test/run-all.sh checks that every entry with the project's prefixes it
 * finds at the end was there at the start).
 *
 * `scratchDir(prefix)` makes `<tmpdir>/<prefix>XXXXXX` and removes it, with everything in it,
 * after the running test when called inside one, else after the test file (or the describe
 * block) it was called in: a file's top level or a describe body, where vitest collects
 * hooks. Not from inside a beforeAll/afterAll hook, where neither can be registered: make the
 * directory at the file's top level and fill it in the hook. Prefixes start with `mf-` or
 * `manifold-`, the project's own (run-all.sh watches those).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

export function scratchDir(prefix: string): string {
  if (!/^(mf|manifold)-/.test(prefix))
    throw new Error(`scratchDir: ${prefix}: not one of the project's prefixes`);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    onTestFinished(remove); // inside a test: after it, passed or failed
  } catch {
    afterAll(remove); // collecting: after the file or describe block
  }
  return dir;
}
