/**
 * What DEL needs to undo that it cannot read from the kernel or the cached results: stored
 * with each attachment in the delegate cache (an additive `multihome` field), only when
 * multi-homing did something. Tables and rules are found again from these table ids and the
 * cached addresses; default routes, table routes and rules carry manifold's route protocol.
 */
import * as z from 'zod/mini';
import { log } from '../../util/log.ts';

const StateSchema = z.looseObject({
  /** The MAC before macFromIPv4 changed it. */
  mac: z.optional(z.string()),
  /** sysctl values before ADD changed them, by key (`net/ipv4/conf/net1/rp_filter`). */
  sysctls: z.optional(z.record(z.string(), z.string())),
  /** The policy routing tables made for it, by family (the same id serves IPv4 and IPv6). */
  tables: z.optional(
    z.array(z.looseObject({ table: z.int().check(z.nonnegative()), family: z.literal([4, 6]) })),
  ),
});
export type AttachmentState = z.output<typeof StateSchema>;

/** A cached state, or undefined (none, or unreadable: logged, and DEL does what it still can). */
export function readState(v: unknown): AttachmentState | undefined {
  if (v === undefined) return undefined;
  const r = StateSchema.safeParse(v);
  if (r.success) return r.data;
  log.error(
    `ignoring an unreadable multihome state in the delegate cache: ${r.error.issues[0]?.message ?? ''}`,
  );
  return undefined;
}
