/**
 * Test helpers for driving the skel without a process: a fake IO that records stdout/stderr,
 * and a run() that returns the exit status and the decoded output.
 */
import type { Env } from './env.ts';
import { CniError } from './errors.ts';
import type { PluginLoader } from './plugin.ts';
import { runSkel } from './skel.ts';

export interface SkelRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout decoded as JSON (undefined when empty). */
  json: Record<string, unknown> | undefined;
}

export async function runWith(
  load: PluginLoader,
  env: Env,
  stdin: string | Buffer | (() => Promise<Buffer>),
  name = 'test',
): Promise<SkelRun> {
  let stdout = '';
  let stderr = '';
  const readStdin =
    typeof stdin === 'function' ? stdin : async () => (Buffer.isBuffer(stdin) ? stdin : Buffer.from(stdin));
  const code = await runSkel(
    { name, version: '0.0.0-test', load },
    {
      env,
      readStdin,
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
    },
  );
  return { code, stdout, stderr, json: stdout ? (JSON.parse(stdout) as Record<string, unknown>) : undefined };
}

/** The CniError `fn` throws; fails the test when it throws nothing or something else. */
export function cniErrorOf(fn: () => unknown): CniError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('expected a CniError');
}

/** The CniError `p` rejects with; fails the test when it resolves or rejects with something else. */
export async function cniRejectionOf(p: Promise<unknown>): Promise<CniError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('expected a CniError');
}
