/**
 * The VF records: one JSON file per VF, `<dataDir>/<pci address>.json`, written before ADD
 * changes anything and removed when DEL (or GC) has put the VF back. A record holds whose VF
 * it is (network, container, ifname, netns), the VF's original state (PF side and netdev)
 * and the PF-side settings ADD applies. `<dataDir>/<pci address>.lock` is flock'ed around
 * every change of one VF. Writes are atomic: temp file (0600) + fsync + rename.
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { describeError, failed, q } from '../../src/cni/errors.ts';
import { type FileLock, lockExclusive } from '../../src/kernel/flock.ts';
import { tempsOf, writeFileAtomic } from '../../src/util/atomic.ts';
import { ensureDir } from '../../src/util/dirs.ts';
import { log } from '../../src/util/log.ts';

const LinkStateSchema = z.enum(['auto', 'enable', 'disable']);
const ProtoSchema = z.enum(['802.1q', '802.1ad']);

/** The PF-side view of a VF (what IFLA_VFINFO_LIST reports). */
const PfStateSchema = z.object({
  mac: z.optional(z.string()),
  vlan: z.number(),
  qos: z.number(),
  vlanProto: ProtoSchema,
  spoofchk: z.optional(z.boolean()),
  trust: z.optional(z.boolean()),
  linkState: z.optional(LinkStateSchema),
  minTxRate: z.number(),
  maxTxRate: z.number(),
});
export type PfState = z.output<typeof PfStateSchema>;

const NetdevStateSchema = z.object({
  name: z.string(),
  mac: z.optional(z.string()),
  mtu: z.number(),
  up: z.boolean(),
});
export type NetdevState = z.output<typeof NetdevStateSchema>;

/** PF-side settings wanted for the VF (only the ones the config sets). */
const PfWantSchema = z.object({
  vlan: z.optional(z.object({ vlan: z.number(), qos: z.number(), proto: ProtoSchema })),
  mac: z.optional(z.string()),
  maxTxRate: z.optional(z.number()),
  minTxRate: z.optional(z.number()),
  spoofchk: z.optional(z.boolean()),
  trust: z.optional(z.boolean()),
  linkState: z.optional(LinkStateSchema),
});

export type PfWant = z.output<typeof PfWantSchema>;

const RecordSchema = z.looseObject({
  version: z.literal(1),
  pciAddress: z.string(),
  pf: z.string(),
  vfIndex: z.number(),
  dpdk: z.boolean(),
  network: z.string(),
  containerId: z.string(),
  ifname: z.string(),
  netns: z.string(),
  /** adding: ADD under way (or crashed); attached; released: PF side reset, netdev not back yet. */
  phase: z.enum(['adding', 'attached', 'released']),
  original: z.object({ pf: z.optional(PfStateSchema), netdev: z.optional(NetdevStateSchema) }),
  applied: PfWantSchema,
});
export type VfRecord = z.output<typeof RecordSchema>;

const PCI_FILE = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\.json$/;

export class VfStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #ensureDir(): void {
    try {
      ensureDir(this.dir, 0o700);
    } catch (err) {
      throw failed(`create the SR-IOV data directory ${q(this.dir)}`, err);
    }
  }

  /** Takes the lock of one VF (held across processes until released). */
  async lock(pci: string): Promise<FileLock> {
    this.#ensureDir();
    return lockExclusive(join(this.dir, `${pci}.lock`));
  }

  read(pci: string): VfRecord | undefined {
    const file = join(this.dir, `${pci}.json`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw failed(`read VF record ${q(file)}`, err);
    }
    try {
      return RecordSchema.parse(JSON.parse(text));
    } catch (err) {
      // Written atomically, so this is not a torn write: someone else's file. Never fatal.
      log.error(`ignoring unreadable VF record ${q(file)}: ${describeError(err)}`);
      return undefined;
    }
  }

  write(rec: VfRecord): void {
    this.#ensureDir();
    const file = join(this.dir, `${rec.pciAddress}.json`);
    try {
      writeFileAtomic(file, `${q(rec)}\n`, { durable: true });
    } catch (err) {
      throw failed(`write VF record ${q(file)}`, err);
    }
  }

  /** Removes the record of a VF and the temp files of writes a killed process left (call under its lock). */
  remove(pci: string): void {
    for (const f of [this.#file(pci), ...this.#temps(pci)]) {
      try {
        unlinkSync(f);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failed(`remove VF record of ${pci}`, err);
      }
    }
  }

  /** Whether a killed write of this VF's record left a temp file (the record itself never appeared). */
  hasTemps(pci: string): boolean {
    return this.#temps(pci).length > 0;
  }

  #file(pci: string): string {
    return join(this.dir, `${pci}.json`);
  }

  #temps(pci: string): string[] {
    // `.<pci>.` also matches the temps of versions that named them `.<pci>.<random>.tmp`
    return tempsOf(this.#file(pci), `.${pci}.`);
  }

  /** Every record in the directory. */
  list(): VfRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw failed(`list the SR-IOV data directory ${q(this.dir)}`, err);
    }
    const out: VfRecord[] = [];
    for (const name of names.filter((n) => PCI_FILE.test(n)).sort()) {
      const rec = this.read(name.slice(0, -'.json'.length));
      if (rec) out.push(rec);
    }
    return out;
  }

  /** The record of one attachment, found by its VF when known, else by scanning. */
  find(network: string, containerId: string, ifname: string, pci?: string): VfRecord | undefined {
    const mine = (r: VfRecord | undefined) =>
      r && r.network === network && r.containerId === containerId && r.ifname === ifname ? r : undefined;
    if (pci) {
      const r = mine(this.read(pci));
      if (r) return r;
    }
    return this.list().find((r) => mine(r));
  }
}
