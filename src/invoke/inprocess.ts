/**
 * Runs a built-in plugin inside this process through the very skel the standalone executable
 * uses: the same environment rules, config parsing, result conversion and error JSON, with
 * stdout captured instead of printed.
 */
import type { Env, Invoker, PluginLoader } from '../cni/plugin.ts';
import { runSkel } from '../skel/skel.ts';
import { MANIFOLD_VERSION } from '../util/version.ts';

export interface Captured {
  readonly status: number;
  readonly stdout: string;
}

export async function runInProcess(
  type: string,
  load: PluginLoader,
  env: Env,
  stdin: string,
  invoker: Invoker,
): Promise<Captured> {
  let stdout = '';
  const status = await runSkel(
    { name: type, version: MANIFOLD_VERSION, load, invoker, nested: true },
    {
      env,
      readStdin: async () => Buffer.from(stdin),
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        process.stderr.write(s);
      },
    },
  );
  return { status, stdout };
}
