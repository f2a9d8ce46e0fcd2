/**
 * The meta-plugin's config: Multus's thin-plugin field names, so a Multus user changes only
 * `type`. Unknown fields are ignored. Kubernetes fields (kubeconfig, namespaceIsolation, …)
 * are accepted here and used by the Kubernetes layer.
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { invalidConfig } from '../cni/errors.ts';
import { NetConfSchema } from '../cni/netconf.ts';
import { parseWith } from '../cni/validate.ts';
import { IMPLICIT_VERSION } from '../cni/versions.ts';
import { MultihomeShape } from './multihome/options.ts';
import { K8S_FIELDS } from './pods/k8s-config.ts';

export const DEFAULT_CONF_DIR = '/etc/cni/manifold/net.d';
export const DEFAULT_CNI_DIR = '/var/lib/cni/manifold';
export const DEFAULT_READINESS_TIMEOUT_S = 45;

const absolute = z
  .string()
  .check(z.refine((p) => p === '' || isAbsolute(p), { message: 'must be an absolute path' }));

export const MetaConfSchema = z.extend(NetConfSchema, {
  delegates: z.optional(z.array(z.looseObject({}))),
  clusterNetwork: z.optional(z.string()),
  defaultNetworks: z.optional(z.array(z.string())),
  confDir: z.optional(absolute),
  cniDir: z.optional(absolute),
  binDir: z.optional(absolute),
  kubeconfig: z.optional(z.string()),
  readinessindicatorfile: z.optional(z.string()),
  /** manifold extension: how long ADD waits for the readiness file (Multus: 45 s, fixed). */
  readinessTimeoutSeconds: z.optional(z.number().check(z.positive(), z.maximum(3600))),
  namespaceIsolation: z.optional(z.boolean()),
  globalNamespaces: z.optional(z.string()),
  systemNamespaces: z.optional(z.array(z.string())),
  multusNamespace: z.optional(z.string()),
  logFile: z.optional(z.string()),
  logLevel: z.optional(z.enum(['panic', 'error', 'info', 'verbose', 'debug', ''])),
  logToStderr: z.optional(z.boolean()),
  /** manifold: one JSON line per event (default), or text for people. */
  logFormat: z.optional(z.enum(['json', 'text'])),
  ...K8S_FIELDS,
  /** manifold extension: multi-homing (docs/multihoming.md), every option off by default. */
  ...MultihomeShape,
});

export interface MetaConf extends z.output<typeof MetaConfSchema> {
  /** The config's cniVersion; none (or "") is 0.1.0. Delegates without one inherit it. */
  readonly effectiveVersion: string;
  readonly confDirOrDefault: string;
  readonly cniDirOrDefault: string;
}

export function parseMetaConf(raw: Record<string, unknown>): MetaConf {
  const conf = parseWith(MetaConfSchema, raw);
  if (conf.delegates?.length && conf.clusterNetwork) {
    throw invalidConfig('clusterNetwork', 'cannot be combined with delegates: give one or the other');
  }
  if (!conf.delegates?.length && !conf.clusterNetwork) {
    throw invalidConfig(
      'delegates',
      'no network to attach: give delegates, or clusterNetwork (and defaultNetworks)',
    );
  }
  if (conf.defaultNetworks?.length && !conf.clusterNetwork) {
    throw invalidConfig('defaultNetworks', 'needs clusterNetwork');
  }
  return {
    ...conf,
    effectiveVersion: conf.cniVersion || IMPLICIT_VERSION,
    confDirOrDefault: conf.confDir || DEFAULT_CONF_DIR,
    cniDirOrDefault: conf.cniDir || DEFAULT_CNI_DIR,
  };
}
