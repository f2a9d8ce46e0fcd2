/**
 * Entry point and composition root: picks the plugin by the name the executable was invoked
 * as (`macvlan`, `host-local`, … or anything else for the meta-plugin) and hands over to the
 * skel with the registry's invoker.
 */
import { basename } from 'node:path';
import { exitCall } from './kernel/exit.ts';
import { builtin, invoker, loaderFor, META_TYPE } from './registry.ts';
import { processIO } from './skel/process.ts';
import { runSkel } from './skel/skel.ts';
import { MANIFOLD_VERSION } from './util/version.ts';

/** The plugin type for an invocation name: a built-in's own name, else the meta-plugin. */
export function pluginTypeFor(argv0: string): string {
  const name = basename(argv0);
  return loaderFor(name) ? name : META_TYPE;
}

export async function main(argv0: string, args: readonly string[] = []): Promise<number> {
  if (args.length > 0) return runCommandLine(args);
  const type = pluginTypeFor(argv0);
  const load = loaderFor(type) ?? loaderFor(META_TYPE);
  if (!load) return 1;
  // the skel makes the call's scope (one netlink socket per namespace for the whole call)
  return runSkel({ name: type, version: MANIFOLD_VERSION, load, invoker: invoker() }, processIO());
}

/** A person's command (kubelet and libcni never pass arguments): the CLI, loaded only then. */
async function runCommandLine(args: readonly string[]): Promise<number> {
  const { runCli } = await import(/* webpackMode: "eager" */ './cli/cli.ts');
  const io = processIO();
  const builtins = { get: builtin, typeFor: pluginTypeFor, invoker };
  return runCli(
    args,
    {
      env: io.env,
      execPath: process.execPath,
      cwd: process.cwd(),
      builtins,
      stdout: io.stdout,
      stderr: io.stderr,
    },
    MANIFOLD_VERSION,
  );
}

/** Runs the CNI call (or the command) of this process and exits with its status. */
export function run(): void {
  // argv is [node, script, ...] under node and [executable, argv0, ...] in the single executable
  main(process.argv0, process.argv.slice(2)).then(exitCall, () => exitCall(1));
}

/**
 * One CNI call with in-memory streams, for the build's training run (src/sea/make-cache.cjs
 * runs real calls in throwaway namespaces so the code cache holds what they compile). The
 * plugin is picked by `name` as by the invocation name; never used on a CNI call.
 */
export async function trainingCall(
  name: string,
  env: Readonly<Record<string, string>>,
  stdin: string,
): Promise<{ code: number; stdout: string }> {
  const type = pluginTypeFor(name);
  const load = loaderFor(type) ?? loaderFor(META_TYPE);
  if (!load) return { code: 1, stdout: '' };
  let stdout = '';
  const io = {
    env,
    readStdin: async () => Buffer.from(stdin),
    stdout: (s: string) => {
      stdout += s;
    },
    stderr: () => {},
  };
  const code = await runSkel({ name: type, version: MANIFOLD_VERSION, load, invoker: invoker() }, io);
  return { code, stdout };
}

/** The build's warm-up (src/warm.ts), loaded only when the build calls it: never on a CNI call. */
export async function warm(): Promise<void> {
  await (await import(/* webpackMode: "eager" */ './warm.ts')).warm();
}

// The build (src/sea/make-cache.cjs) loads the bundle without running it, to warm it up.
if (!(globalThis as { __manifoldNoAutorun?: boolean }).__manifoldNoAutorun) run();
