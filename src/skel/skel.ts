/**
 * The CNI process interface, in one place: environment, stdin, VERSION, version negotiation,
 * dispatch to the plugin, result conversion, and errors as CNI error JSON with exit status 1.
 * It takes its environment and streams as arguments, so tests (and the meta-plugin's
 * in-process delegation) call it without a process.
 */

import { CniError, Code, describeError, q } from '../cni/errors.ts';
import type { HostServices } from '../cni/host.ts';
import type { Env, Invoker, PluginLoader } from '../cni/plugin.ts';
import { printJson } from '../cni/result.ts';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, versionInfo } from '../cni/versions.ts';
import { inCall } from '../util/call.ts';
import { log, pushLogContext } from '../util/log.ts';
import { cniArgsForLog } from '../util/redact.ts';
import { parseEnv } from './env.ts';

export interface SkelIO {
  readonly env: Env;
  /** Reads all of stdin. Not called for VERSION. */
  readStdin(): Promise<Buffer>;
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface SkelOptions {
  /** The CNI `type`, used in the about text. */
  readonly name: string;
  readonly version: string;
  readonly load: PluginLoader;
  /** Runs the plugins this one calls (IPAM, delegates); handed to the plugin in its context. */
  readonly invoker: Invoker;
  /** What a long-lived host (the daemon) lends the call; absent in one-shot (src/cni/host.ts). */
  readonly host?: HostServices;
  /**
   * A call made in-process by the meta-plugin: the config's log settings do not take over
   * the process's log.
   */
  readonly nested?: boolean;
}

/**
 * Runs one CNI call; returns the process exit status (0 or 1). The whole call — its log
 * settings and context, its sockets, its removals — is one call scope (src/util/call.ts); an
 * in-process delegate's skel joins its caller's.
 */
export function runSkel(opts: SkelOptions, io: SkelIO): Promise<number> {
  return inCall(() => runCall(opts, io));
}

async function runCall(opts: SkelOptions, io: SkelIO): Promise<number> {
  let cniVersion: string = CURRENT_VERSION;
  let popContext = (): void => undefined;
  try {
    if (!io.env.CNI_COMMAND) {
      // As the reference skel: the about text on stderr, nothing on stdout, exit status 0.
      io.stderr(
        `CNI ${opts.name} plugin v${opts.version}\n` +
          `CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`,
      );
      return 0;
    }
    const cmd = parseEnv(io.env);
    if (cmd.command === 'VERSION') {
      io.stdout(printJson(versionInfo()));
      return 0;
    }
    const stdin = await readStdin(io);
    const { prepare, dispatch, configureLogFrom } = await import(/* webpackMode: "eager" */ './dispatch.ts');
    const prepared = prepare(cmd, io.env, stdin);
    if (!opts.nested) configureLogFrom(prepared.raw, io.stderr, opts.name);
    cniVersion = prepared.cniVersion;
    popContext = pushLogContext(
      opts.nested
        ? { delegate: `${String(prepared.raw.name)} (${opts.name})`, ifname: cmd.ifname }
        : { verb: cmd.command, containerId: cmd.containerId, ifname: cmd.ifname },
    );
    if (!opts.nested && log.enabled('debug'))
      log.debug(
        `${cmd.command}: netns ${q(cmd.netns)}, CNI_ARGS ${q(cniArgsForLog(cmd.args))}, config ${q(prepared.raw)}`,
      );
    const output = await dispatch(await opts.load(), prepared, opts.invoker, opts.host);
    if (output !== undefined) io.stdout(printJson(output));
    return 0;
  } catch (err) {
    const e = toCniError(err);
    log.error(`${io.env.CNI_COMMAND ?? '?'} failed: ${e.describe()}`);
    if (!(err instanceof CniError) && err instanceof Error && err.stack) log.debug(err.stack);
    // one line each, whatever a value quoted into them held
    const msg = oneLine(e.message);
    const details = oneLine(e.details);
    io.stdout(printJson({ cniVersion, code: e.code, msg, ...(details ? { details } : {}) }));
    return 1;
  } finally {
    popContext();
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(Code.Internal, describeError(err));
}

async function readStdin(io: SkelIO): Promise<Buffer> {
  try {
    return await io.readStdin();
  } catch (err) {
    throw new CniError(Code.IOFailure, `error reading from stdin: ${describeError(err)}`);
  }
}
