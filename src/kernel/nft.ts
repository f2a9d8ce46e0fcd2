/**
 * nftables through the `nft` tool (the one exception to "no spawning in ADD/DEL": the kernel's
 * nf_tables netlink protocol needs a rule compiler). A whole change is one batch on
 * stdin (`nft -f -`), which the kernel applies atomically: all of it or none. Spawned from
 * the main thread, so it acts on the namespace the process is in (the host).
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniError, Code } from '../cni/errors.ts';
import type { Ran } from '../util/spawn.ts';
import { kernelFailure } from './errors.ts';

/** Where nft lives when PATH (runtimes often pass a short one) does not have it. */
const FALLBACK_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const TIMEOUT_MS = 30_000;

let found: string | undefined;

/** nft is not installed: nothing can have been added through it either. */
export class NftMissingError extends CniError {
  constructor() {
    super(
      Code.Internal,
      `nft not found in PATH or ${FALLBACK_DIRS.join(', ')} (install the nftables package)`,
    );
  }
}

function nftBinary(): string {
  if (found) return found;
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), ...FALLBACK_DIRS];
  for (const dir of dirs) {
    const file = join(dir, 'nft');
    try {
      accessSync(file, constants.X_OK);
      found = file;
      return file;
    } catch {
      // not here
    }
  }
  throw new NftMissingError();
}

function firstError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const err = lines.find((l) => /error:/i.test(l)) ?? lines[0] ?? '';
  const one = err.replace(/^\/dev\/stdin:\d+:\d+(-\d+)?:\s*/, '');
  return one.length > 300 ? `${one.slice(0, 297)}...` : one;
}

async function run(args: string[], input: string | undefined, what: string): Promise<string> {
  const file = nftBinary();
  let r: Ran;
  try {
    const { runProgram } = await import(/* webpackMode: "eager" */ '../util/spawn.ts'); // node:child_process only when needed
    r = await runProgram(file, args, { input, timeoutMs: TIMEOUT_MS });
  } catch (err) {
    throw kernelFailure(`${what}: cannot run ${file}`, err);
  }
  if (r.code === 0) return r.stdout;
  const why = r.timedOut
    ? `nft timed out after ${TIMEOUT_MS} ms`
    : firstError(r.stderr) ||
      (r.signal ? `nft was killed by ${r.signal}` : `nft exited with status ${r.code}`);
  throw new CniError(Code.Internal, `failed to ${what}: ${why}`);
}

/** Applies `batch` (nft script syntax) atomically. `what` reads like `add masquerade rules for …`. */
export async function apply(batch: string, what: string): Promise<void> {
  await run(['-f', '-'], batch, what);
}

export interface NftChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly comment: string | undefined;
}

/** Every chain of every table (of `family` when given): `nft -j list chains [family]`. */
export async function listChains(family?: string): Promise<NftChain[]> {
  const what = `list nftables chains${family ? ` of ${family}` : ''}`;
  const out = await run(['-j', 'list', 'chains', ...(family ? [family] : [])], undefined, what);
  let parsed: { nftables?: { chain?: Record<string, unknown> }[] };
  try {
    parsed = JSON.parse(out) as typeof parsed;
  } catch {
    throw new CniError(Code.Internal, `failed to ${what}: output is not JSON`);
  }
  const chains: NftChain[] = [];
  for (const item of parsed.nftables ?? []) {
    const c = item.chain;
    if (!c || typeof c.name !== 'string' || typeof c.table !== 'string') continue;
    chains.push({
      family: typeof c.family === 'string' ? c.family : (family ?? ''),
      table: c.table,
      name: c.name,
      comment: typeof c.comment === 'string' ? c.comment : undefined,
    });
  }
  return chains;
}
