/**
 * The lock install and uninstall share: `<confDir>/manifold.d/install.lock` (a subdirectory,
 * so taking it is no event in the conf dir the runtime watches). `install --watch` refreshes
 * the wrapper every 10 s while preStop may run `uninstall`: a refresh that saw the config,
 * then renamed its temp after uninstall removed it, re-created the config of a node manifold
 * was being removed from. Under this lock the refresh re-checks that the
 * config exists and writes it, or uninstall removes it: never both interleaved.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../../cni/errors.ts';
import type { FileLock } from '../../kernel/flock.ts';

export async function lockInstall(confDir: string): Promise<FileLock> {
  const dir = join(confDir, 'manifold.d');
  const path = join(dir, 'install.lock');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new Error(`failed to create lock dir "${dir}": ${describeError(err)}`);
  }
  const { lockExclusive } = await import(/* webpackMode: "eager" */ '../../kernel/flock.ts');
  try {
    return await lockExclusive(path, 30_000);
  } catch (err) {
    throw new Error(`failed to lock "${path}": ${describeError(err)}`);
  }
}
