/**
 * The environment of a cnitool-style run, read exactly as cnitool reads it: NETCONFPATH
 * (default /etc/cni/net.d), CNI_PATH (split on ':'), CNI_ARGS (`K=V;K2=V2`, each pair exactly
 * one '=' with both sides non-empty), CAP_ARGS (a JSON object), CNI_IFNAME (default eth0);
 * the netns made absolute, and the container id cnitool derives from it:
 * `cnitool-` + the first 10 bytes of the SHA-512 of the absolute netns path, in hex.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { q } from '../../cni/errors.ts';
import { UsageError } from './flags.ts';

export const DEFAULT_NETCONFPATH = '/etc/cni/net.d';
export const DEFAULT_IFNAME = 'eth0';

type Env = Readonly<Record<string, string | undefined>>;

export interface ToolEnv {
  readonly netconfPath: string;
  readonly cniPath: readonly string[];
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capArgs: Readonly<Record<string, unknown>>;
  readonly ifname: string;
}

/** cnitool's CNI_ARGS rule: split on ';', each piece split on '=' into exactly two non-empty parts. */
export function parseToolArgs(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new UsageError(`invalid CNI_ARGS pair ${q(pair)}`);
    return [kv[0], kv[1]];
  });
}

export function parseCapArgs(raw: string): Record<string, unknown> {
  if (raw === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`CAP_ARGS: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new UsageError('CAP_ARGS: must be a JSON object');
  return v as Record<string, unknown>;
}

/** `--ifname` wins, then CNI_IFNAME, then eth0 (as cnitool's -i/--ifname, CNI_IFNAME, 'eth0'). */
export function readToolEnv(env: Env, ifnameFlag?: string): ToolEnv {
  return {
    netconfPath: env.NETCONFPATH || DEFAULT_NETCONFPATH,
    cniPath: (env.CNI_PATH ?? '').split(':').filter((d) => d !== ''),
    cniArgs: parseToolArgs(env.CNI_ARGS ?? ''),
    capArgs: parseCapArgs(env.CAP_ARGS ?? ''),
    ifname: ifnameFlag || env.CNI_IFNAME || DEFAULT_IFNAME,
  };
}

/** The netns as cnitool passes it: made absolute against `cwd`. */
export function absoluteNetns(netns: string, cwd: string): string {
  return resolve(cwd, netns);
}

/** cnitool's container id for a netns path (already absolute). */
export function containerIdFor(netns: string): string {
  return `cnitool-${createHash('sha512').update(netns).digest().subarray(0, 10).toString('hex')}`;
}
