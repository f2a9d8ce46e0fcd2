/**
 * A NetworkAttachmentDefinition's network config, as Multus reads one: `spec.config` (a conf
 * or conflist as a JSON string; a missing `name` is filled with the NAD's name), or, when the
 * spec is empty, the config file in confDir whose `name` is the NAD's name.
 */
import { CniError, Code, describeError, q } from '../../cni/errors.ts';
import type { Nad } from '../../k8s/api.ts';
import { findNetworkByName } from '../files.ts';

export interface NadNetwork {
  readonly raw: Record<string, unknown>;
  /** For messages and the cache: `NetworkAttachmentDefinition ns/name` or the file path. */
  readonly source: string;
}

export function networkOfNad(nad: Nad, namespace: string, confDir: string): NadNetwork {
  const name = nad.metadata.name;
  const source = `NetworkAttachmentDefinition ${namespace}/${name}`;
  const text = nad.spec?.config ?? '';
  if (text.trim() === '') {
    const f = findNetworkByName(confDir, name);
    if (!f) {
      throw new CniError(
        Code.InvalidConfig,
        `${source} has an empty spec.config and confDir ${q(confDir)} has no network named ${q(name)}`,
      );
    }
    return { raw: f.raw, source: f.path };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(Code.InvalidConfig, `${source}: spec.config is not valid JSON: ${describeError(err)}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CniError(Code.InvalidConfig, `${source}: spec.config is not a JSON object`);
  }
  const conf = raw as Record<string, unknown>;
  return { raw: conf.name ? conf : { ...conf, name }, source };
}

/** The annotation's value of a NAD, if any. */
export function nadAnnotation(nad: Nad, key: string): string | undefined {
  return nad.metadata.annotations?.[key] || undefined;
}
