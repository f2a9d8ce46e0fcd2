/**
 * The part of the skel that runs after VERSION: decode and check the config, gate verbs by
 * version, build the plugin context and call the verb. Loaded lazily so VERSION stays cheap.
 */
import { z } from 'zod';
import { configureLog } from '../log.ts';
import { type CmdArgs, type Env, isValidNetworkName, parseCniArgs } from './env.ts';
import { CniError, Code } from './errors.ts';
import { ResultSchema } from './netconf.ts';
import type { Attachment, Plugin, PluginContext } from './plugin.ts';
import { decodeResult, encodeResult } from './result.ts';
import { parseWith } from './validate.ts';
import { atLeast, IMPLICIT_VERSION, isSupported, SUPPORTED_VERSIONS } from './versions.ts';

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

/** Points the log where the config's `logFile`/`logLevel`/`logToStderr` say (Multus's fields). */
export function configureLogFrom(
  conf: Record<string, unknown>,
  stderr: (s: string) => void,
  name: string,
): void {
  configureLog(
    {
      logFile: typeof conf.logFile === 'string' ? conf.logFile : undefined,
      logLevel: typeof conf.logLevel === 'string' ? conf.logLevel : undefined,
      logToStderr: conf.logToStderr === true,
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
    throw new CniError(Code.DecodingFailure, `cniVersion: expected a string, got ${JSON.stringify(version)}`);
  }
  if (!isSupported(version)) {
    throw new CniError(
      Code.IncompatibleVersion,
      'incompatible CNI versions',
      `config is ${JSON.stringify(version)}, plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
  const min = MIN_VERSION[cmd.command];
  if (min && !atLeast(version, min)) {
    throw new CniError(
      Code.IncompatibleVersion,
      `config version does not allow ${cmd.command}`,
      `${cmd.command} needs cniVersion ${min} or later; config is ${JSON.stringify(version)}`,
    );
  }
  if (typeof conf.name !== 'string' || conf.name === '') {
    throw new CniError(Code.InvalidConfig, 'missing network name');
  }
  if (!isValidNetworkName(conf.name)) {
    throw new CniError(
      Code.InvalidConfig,
      `name: invalid characters in network name ${JSON.stringify(conf.name)}`,
      'a network name starts with a letter or digit, then only letters, digits, "_", "." or "-"',
    );
  }
  return { cmd, env, raw: conf, cniVersion: version };
}

const ValidAttachments = z.array(z.looseObject({ containerID: z.string(), ifname: z.string() }));

/** Builds the context and calls the verb; returns the JSON to print (ADD only). */
export async function dispatch(plugin: Plugin<unknown>, p: Prepared): Promise<unknown> {
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
  };
  const withPrev = prev ? { ...base, prevResult: decodeResult(prev, p.cniVersion) } : base;
  let ctx: PluginContext<unknown> = withPrev;
  switch (p.cmd.command) {
    case 'ADD':
      return encodeResult(await plugin.add(ctx), p.cniVersion);
    case 'DEL':
      return void (await plugin.del(ctx));
    case 'CHECK':
      if (!ctx.prevResult) {
        throw new CniError(
          Code.InvalidConfig,
          'prevResult: required for CHECK (the result of the ADD being checked)',
        );
      }
      return void (await plugin.check(ctx));
    case 'STATUS':
      return void (await plugin.status(ctx));
    case 'GC': {
      const valid: Attachment[] = parseWith(
        ValidAttachments,
        p.raw['cni.dev/valid-attachments'] ?? [],
        'cni.dev/valid-attachments',
      );
      ctx = { ...withPrev, validAttachments: valid };
      return void (await plugin.gc(ctx));
    }
    default:
      throw new CniError(Code.InvalidEnvironment, `unknown CNI_COMMAND: ${p.cmd.command}`);
  }
}
