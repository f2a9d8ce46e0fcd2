/**
 * The meta-plugin's config: Multus's thin-plugin field names, so a Multus user changes only
 * `type`. Unknown fields are ignored. Kubernetes fields (kubeconfig, namespaceIsolation, …)
 * are accepted here and used by the Kubernetes layer.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { invalidConfig } from '../cni/errors.ts';
import { NetConfSchema } from '../cni/netconf.ts';
import { parseWith } from '../cni/validate.ts';
import { IMPLICIT_VERSION } from '../cni/versions.ts';
import { K8S_FIELDS } from './k8s/k8s-config.ts';
import { MultihomeShape } from './multihome/options.ts';

export const DEFAULT_CONF_DIR = '/etc/cni/manifold/net.d';
export const DEFAULT_CNI_DIR = '/var/lib/cni/manifold';
export const DEFAULT_READINESS_TIMEOUT_S = 45;

const absolute = z.string().refine((p) => p === '' || isAbsolute(p), { message: 'must be an absolute path' });

export const MetaConfSchema = NetConfSchema.extend({
  delegates: z.array(z.looseObject({})).optional(),
  clusterNetwork: z.string().optional(),
  defaultNetworks: z.array(z.string()).optional(),
  confDir: absolute.optional(),
  cniDir: absolute.optional(),
  binDir: absolute.optional(),
  kubeconfig: z.string().optional(),
  readinessindicatorfile: z.string().optional(),
  /** manifold extension: how long ADD waits for the readiness file (Multus: 45 s, fixed). */
  readinessTimeoutSeconds: z.number().positive().max(3600).optional(),
  namespaceIsolation: z.boolean().optional(),
  globalNamespaces: z.string().optional(),
  systemNamespaces: z.array(z.string()).optional(),
  multusNamespace: z.string().optional(),
  logFile: z.string().optional(),
  logLevel: z.enum(['panic', 'error', 'info', 'verbose', 'debug', '']).optional(),
  logToStderr: z.boolean().optional(),
  /** manifold: one JSON line per event (default), or text for people. */
  logFormat: z.enum(['json', 'text']).optional(),
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
