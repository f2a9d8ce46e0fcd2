/**
 * The part of the skel that runs after VERSION: decode and check the config, gate verbs by
 * version, build the plugin context and call the verb. Loaded lazily so VERSION stays cheap.
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { CniError, Code, q } from '../cni/errors.ts';
import type { HostServices } from '../cni/host.ts';
import { isValidName } from '../cni/names.ts';
import { ResultSchema } from '../cni/netconf.ts';
import type { Env, Invoker, Plugin, PluginContext, ValidAttachment } from '../cni/plugin.ts';
import { decodeResult, encodeResult } from '../cni/result.ts';
import { parseWith } from '../cni/validate.ts';
import { atLeast, IMPLICIT_VERSION, isSupported, SUPPORTED_VERSIONS } from '../cni/versions.ts';
import { inCall } from '../util/call.ts';
import { configureLog } from '../util/log.ts';
import { type CmdArgs, parseCniArgs } from './env.ts';

export interface Prepared {
  readonly cmd: CmdArgs;
  readonly env: Env;
  readonly raw: Record<string, unknown>;
  readonly cniVersion: string;
}

const MIN_VERSION: Partial<Record<CmdArgs['command'], string>> = {
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
};

/** Points the log where the config's `logFile`/`logLevel`/`logToStderr` say (Multus's fields), in its `logFormat`. */
export function configureLogFrom(
  conf: Record<string, unknown>,
  stderr: (s: string) => void,
  name: string,
): void {
  if (typeof conf.logFile === 'string' && conf.logFile !== '' && !isAbsolute(conf.logFile)) {
    throw new CniError(Code.InvalidConfig, `logFile: must be an absolute path; got ${q(conf.logFile)}`);
  }
  configureLog(
    {
      logFile: typeof conf.logFile === 'string' ? conf.logFile : undefined,
      logLevel: typeof conf.logLevel === 'string' ? conf.logLevel : undefined,
      logToStderr: conf.logToStderr === true,
      logFormat: typeof conf.logFormat === 'string' ? conf.logFormat : undefined,
    },
    stderr,
    name,
  );
}

/** Decodes stdin and checks what the skel owns: JSON, network name, cniVersion, verb gating. */
export function prepare(cmd: CmdArgs, env: Env, stdin: Buffer): Prepared {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin.toString('utf8'));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CniError(Code.DecodingFailure, `error decoding network config from stdin: ${why}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CniError(
      Code.DecodingFailure,
      'error decoding network config from stdin: expected a JSON object',
    );
  }
  const conf = raw as Record<string, unknown>;
  const version =
    conf.cniVersion === undefined || conf.cniVersion === '' ? IMPLICIT_VERSION : conf.cniVersion;
  if (typeof version !== 'string') {
    throw new CniError(Code.DecodingFailure, `cniVersion: expected a string, got ${q(version)}`);
  }
  if (!isSupported(version)) {
    throw new CniError(
      Code.IncompatibleVersion,
      'incompatible CNI versions',
      `config is ${q(version)}, plugin supports ${q(SUPPORTED_VERSIONS)}`,
    );
  }
  const min = MIN_VERSION[cmd.command];
  if (min && !atLeast(version, min)) {
    throw new CniError(
      Code.IncompatibleVersion,
      `config version does not allow ${cmd.command}`,
      `${cmd.command} needs cniVersion ${min} or later; config is ${q(version)}`,
    );
  }
  if (typeof conf.name !== 'string' || conf.name === '') {
    throw new CniError(Code.InvalidConfig, 'missing network name');
  }
  if (!isValidName(conf.name)) {
    throw new CniError(
      Code.InvalidConfig,
      `name: invalid characters in network name ${q(conf.name)}`,
      'a network name starts with a letter or digit, then only letters, digits, "_", "." or "-"',
    );
  }
  return { cmd, env, raw: conf, cniVersion: version };
}

const ValidAttachments = z.array(z.looseObject({ containerID: z.string(), ifname: z.string() }));

/**
 * Builds the context the verb's type promises and calls the verb, as one call
 * (src/util/call.ts: its sockets and removal batch are its own; an in-process delegate joins
 * its caller's); returns the JSON to print (ADD only).
 */
export function dispatch(
  plugin: Plugin<unknown>,
  p: Prepared,
  invoker: Invoker,
  host?: HostServices,
): Promise<unknown> {
  return inCall(() => runVerb(plugin, p, invoker, host));
}

async function runVerb(
  plugin: Plugin<unknown>,
  p: Prepared,
  invoker: Invoker,
  host: HostServices | undefined,
): Promise<unknown> {
  const cniArgs = parseCniArgs(p.cmd.args);
  const conf = plugin.parseConfig(p.raw, cniArgs);
  const prev =
    p.raw.prevResult === undefined ? undefined : parseWith(ResultSchema, p.raw.prevResult, 'prevResult');
  const base = {
    command: p.cmd.command,
    containerId: p.cmd.containerId,
    netns: p.cmd.netns,
    ifname: p.cmd.ifname,
    cniArgs,
    path: p.cmd.path,
    env: p.env,
    conf,
    raw: p.raw,
    cniVersion: p.cniVersion,
    invoker,
    ...(host ? { host } : {}),
  };
  const prevResult = prev ? decodeResult(prev, p.cniVersion) : undefined;
  const ctx: PluginContext<unknown> = prevResult ? { ...base, prevResult } : base;
  switch (p.cmd.command) {
    case 'ADD':
      return encodeResult(await plugin.add(ctx), p.cniVersion);
    case 'DEL':
      return void (await plugin.del(ctx));
    case 'CHECK':
      if (!prevResult) {
        throw new CniError(
          Code.InvalidConfig,
          'prevResult: required for CHECK (the result of the ADD being checked)',
        );
      }
      return void (await plugin.check({ ...base, prevResult }));
    case 'STATUS':
      return void (await plugin.status(ctx));
    case 'GC': {
      const validAttachments: ValidAttachment[] = parseWith(
        ValidAttachments,
        p.raw['cni.dev/valid-attachments'] ?? [],
        'cni.dev/valid-attachments',
      );
      return void (await plugin.gc({ ...ctx, validAttachments }));
    }
    default:
      throw new CniError(Code.InvalidEnvironment, `unknown CNI_COMMAND: ${p.cmd.command}`);
  }
}
