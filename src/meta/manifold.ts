/**
 * The meta-plugin: attaches a pod to every delegate network in one call and returns one
 * merged result. One file per verb: add.ts, del.ts, check.ts, status.ts, gc.ts; what they
 * share about an attachment is in attachment.ts, the cache in cache.ts, deleting in
 * teardown.ts.
 */
import type { Plugin } from '../cni/plugin.ts';
import { add } from './add.ts';
import { check } from './check.ts';
import { type MetaConf, parseMetaConf } from './config.ts';
import { del } from './del.ts';
import { gc } from './gc.ts';
import { status } from './status.ts';

export const plugin: Plugin<MetaConf> = {
  type: 'manifold',
  parseConfig: parseMetaConf,
  add,
  del,
  check,
  status,
  gc,
};
