/**
 * What the checks report and what the risk checks read, shared by `validate` and `explain`:
 * a finding (error or warning, with the file and the JSON path it is about), one plugin of a
 * network as the risk checks see it, and the one way JSON paths are joined.
 */

export interface Finding {
  readonly level: 'error' | 'warning';
  /** The file (and document) it is about. */
  readonly where: string;
  /** The JSON path inside it ('' for the whole document). */
  readonly path: string;
  readonly message: string;
}

/** One plugin of a network as the risk checks see it. */
export interface PluginView {
  readonly where: string;
  readonly path: string;
  readonly network: string;
  readonly type: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** `prefix` + `path` as one JSON path: `plugins[0].delegates[2]` + `mode`. */
export function joinPath(prefix: string, path: string): string {
  if (!prefix) return path;
  if (!path) return prefix;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}
