/**
 * Test helpers for driving the skel without a process: a fake IO that records stdout/stderr,
 * and a run() that returns the exit status and the decoded output.
 */
import { CniError } from '../../src/cni/errors.ts';
import type { Env, Invoker, PluginLoader } from '../../src/cni/plugin.ts';
import { loaderFor, invoker as registryInvoker } from '../../src/registry.ts';
import { runSkel } from '../../src/skel/skel.ts';

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
  invoker: Invoker = registryInvoker(),
): Promise<SkelRun> {
  let stdout = '';
  let stderr = '';
  const readStdin =
    typeof stdin === 'function' ? stdin : async () => (Buffer.isBuffer(stdin) ? stdin : Buffer.from(stdin));
  const code = await runSkel(
    { name, version: '0.0.0-test', load, invoker },
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

/** The loader of built-in `type` (the registry's); fails the test when there is none. */
export function builtinLoader(type: string): PluginLoader {
  const load = loaderFor(type);
  if (!load) throw new Error(`no built-in plugin ${JSON.stringify(type)}`);
  return load;
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
