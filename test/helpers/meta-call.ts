/**
 * The meta-plugin's verbs called directly, as the skel would call them, with a scripted
 * invoker (fake-invoker.ts) and the pod's links given instead of read from the kernel — so
 * ADD, DEL and a failed ADD's rollback run in the unit tier, without root or a namespace.
 * `nativeAddonsLoaded()` tells whether anything reached the kernel layer's native addon (it
 * is loaded on first use only): a unit test asserts it never was.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Invoker, Verb } from '../../src/cni/plugin.ts';
import type { Ctx } from '../../src/meta/attachment.ts';
import { parseMetaConf } from '../../src/meta/config.ts';

export interface MetaCall {
  readonly command?: Verb;
  readonly containerId?: string;
  /** CNI_NETNS (DEL may give ""). */
  readonly netns: string;
  readonly ifname?: string;
  /** CNI_ARGS pairs. */
  readonly args?: Readonly<Record<string, string>>;
  /** The links the pod has already (ADD checks its interface names against them). */
  readonly podLinks?: readonly string[];
}

export function metaCtx(raw: Record<string, unknown>, invoker: Invoker, call: MetaCall): Ctx {
  const command = call.command ?? 'ADD';
  const containerId = call.containerId ?? 'c1';
  const ifname = call.ifname ?? 'eth0';
  const args = Object.entries(call.args ?? {});
  const path = ['/opt/cni/bin'];
  const links = call.podLinks ?? ['lo'];
  return {
    command,
    containerId,
    netns: call.netns,
    ifname,
    cniArgs: new Map(args),
    path,
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: ifname,
      CNI_ARGS: args.map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: path.join(':'),
    },
    conf: parseMetaConf(raw),
    raw,
    cniVersion: String(raw.cniVersion),
    invoker,
    podLinks: async () => links,
  };
}

/**
 * A scratch directory for one test (the cniDir), and a regular file in it to give as
 * CNI_NETNS: it is no network namespace, so any code that tried to open the pod would fail
 * loudly instead of quietly touching a real one.
 */
export function scratch(prefix = 'manifold-meta-'): { dir: string; netns: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const netns = join(dir, 'not-a-netns');
  writeFileSync(netns, '');
  return { dir, netns, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const requireHere = createRequire(import.meta.url);

/** The native addons loaded in this worker (src/native loads the kernel addon on first use only). */
export function nativeAddonsLoaded(): string[] {
  return Object.keys(requireHere.cache).filter((k) => k.endsWith('.node'));
}
