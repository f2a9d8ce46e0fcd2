/**
 * The meta-plugin: attaches a pod to every delegate network in one call and returns one
 * merged result. One file per verb: add.ts, del.ts, check.ts, status.ts, gc.ts; what they
 * share about an attachment is in attachment.ts, the cache in cache.ts, deleting in
 * teardown.ts. Each verb's module is loaded when that verb runs (still one bundle: the
 * imports are eager chunks), so a call evaluates only its own verb's code: containerd asks
 * STATUS every 5 s, and its cost is mostly module evaluation (bench/README.md).
 */
import type { Plugin } from '../cni/plugin.ts';
import { type MetaConf, parseMetaConf } from './config.ts';

export const plugin: Plugin<MetaConf> = {
  type: 'manifold',
  parseConfig: parseMetaConf,
  add: async (ctx) => (await import(/* webpackMode: "eager" */ './add.ts')).add(ctx),
  del: async (ctx) => (await import(/* webpackMode: "eager" */ './del.ts')).del(ctx),
  check: async (ctx) => (await import(/* webpackMode: "eager" */ './check.ts')).check(ctx),
  status: async (ctx) => (await import(/* webpackMode: "eager" */ './status.ts')).status(ctx),
  gc: async (ctx) => (await import(/* webpackMode: "eager" */ './gc.ts')).gc(ctx),
};
