/**
 * The meta-plugin's three calls into multi-homing (docs/multihoming.md):
 * - ADD, after every delegate's ADD and before the results are merged: plans from the results
 *   and the options, and when there is anything to do, does it in the pod; then each
 *   attachment's result is what the kernel has (default routes only on their owners, derived
 *   MACs) and `multihome` holds what DEL will need. A failed check throws after undoing its
 *   own work, so the meta-plugin's rollback removes the delegates.
 * - DEL (and GC, rollback), before the delegates' DEL: removes what ADD added.
 * - CHECK, after the delegates' CHECK.
 * With every option off and no default route to put right, ADD touches nothing and loads
 * nothing more than the plan; DEL and CHECK do nothing for attachments ADD did not touch.
 */
import type { Result } from '../../cni/result.ts';
import { log } from '../../util/log.ts';
import type { OptionFields } from './options.ts';
import { type Attachment, planFor } from './plan.ts';
import { readState } from './state.ts';

export interface MutableAttachment extends Attachment {
  result: Result | undefined;
  /** An AttachmentState once ADD did something (read back from the cache for DEL and CHECK). */
  multihome?: unknown;
}

interface Call {
  readonly netns: string;
  readonly containerId: string;
  readonly conf: OptionFields;
}

/** True when it changed the results and states (the cache is to be rewritten). */
export async function multihomeAdd(ctx: Call, attached: MutableAttachment[]): Promise<boolean> {
  const plan = planFor(ctx.conf, attached);
  if (!plan.work) return false;
  const started = performance.now();
  const { applyPlan } = await import(/* webpackMode: "eager" */ './apply.ts');
  const states = await applyPlan(ctx.netns, ctx.containerId, plan);
  attached.forEach((a, i) => {
    a.result = plan.attachments[i]?.result;
    a.multihome = states[i];
  });
  log.info(`ADD ${ctx.containerId}: multi-homing done in ${(performance.now() - started).toFixed(1)} ms`);
  return true;
}

function cachedOf(attached: readonly MutableAttachment[]) {
  return attached.map((a) => ({ ifname: a.ifname, result: a.result, state: readState(a.multihome) }));
}

export async function multihomeDel(netns: string, attached: readonly MutableAttachment[]): Promise<void> {
  const cached = cachedOf(attached);
  if (!netns || !cached.some((c) => c.state)) return;
  const { removeMultihoming } = await import(/* webpackMode: "eager" */ './cleanup.ts');
  await removeMultihoming(netns, cached);
}

export async function multihomeCheck(netns: string, attached: readonly MutableAttachment[]): Promise<void> {
  const cached = cachedOf(attached);
  if (!cached.some((c) => c.state)) return;
  const { checkMultihoming } = await import(/* webpackMode: "eager" */ './verify.ts');
  await checkMultihoming(netns, cached);
}
