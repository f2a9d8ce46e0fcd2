/**
 * What a file given to `validate` or `explain` holds: a CNI conf or conflist (JSON), or
 * NetworkAttachmentDefinitions — YAML or JSON, one, several documents, or a `kind: List`.
 * A NAD's network is read as the meta-plugin reads it (src/meta/pods/nad.ts: `spec.config`,
 * a missing `name` filled with the NAD's; an empty spec names a file in confDir). The YAML
 * parser is loaded only for YAML.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { CniError, describeError, q } from '../../cni/errors.ts';
import type { Nad } from '../../k8s/api.ts';
import { networkOfNad } from '../../meta/pods/nad.ts';

export const NAD_KIND = 'NetworkAttachmentDefinition';
export const NAD_API_VERSION = 'k8s.cni.cncf.io/v1';

export type Doc =
  /** A conf or conflist (of any plugin, the meta-plugin included). */
  | { readonly kind: 'network'; readonly where: string; readonly raw: Record<string, unknown> }
  /** A NAD whose network could be read. */
  | {
      readonly kind: 'nad';
      readonly where: string;
      readonly namespace: string;
      readonly name: string;
      /** The NAD as the API server would hand it over. */
      readonly nad: Nad;
      readonly raw: Record<string, unknown>;
      /** Where the network came from: `spec.config`, or the confDir file an empty spec names. */
      readonly source: string;
      /** Problems of the NAD object itself (its metadata). */
      readonly problems: readonly { path: string; problem: string }[];
    }
  /** A document that cannot be read as either. */
  | { readonly kind: 'broken'; readonly where: string; readonly path: string; readonly problem: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isSubdomain = (s: string) =>
  s.length <= 253 && s.split('.').every((l) => l.length > 0 && l.length <= 63 && LABEL.test(l));

function stringMap(v: unknown): Record<string, string> {
  if (!isObj(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function nadDoc(obj: Obj, where: string, confDir: string): Doc {
  const problems: { path: string; problem: string }[] = [];
  if (obj.apiVersion !== NAD_API_VERSION)
    problems.push({
      path: 'apiVersion',
      problem: `expected ${q(NAD_API_VERSION)}; got ${q(obj.apiVersion)}`,
    });
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default';
  if (!isSubdomain(name))
    problems.push({
      path: 'metadata.name',
      problem: `${q(meta.name ?? null)} is not a DNS-1123 subdomain (lower-case letters, digits, "-" and ".")`,
    });
  if (!LABEL.test(namespace) || namespace.length > 63)
    problems.push({
      path: 'metadata.namespace',
      problem: `${q(namespace)} is not a DNS-1123 label`,
    });
  const spec = obj.spec;
  if (spec !== undefined && spec !== null && !isObj(spec))
    return { kind: 'broken', where, path: 'spec', problem: 'must be an object' };
  const config = isObj(spec) ? spec.config : undefined;
  if (config !== undefined && typeof config !== 'string')
    return {
      kind: 'broken',
      where,
      path: 'spec.config',
      problem: `must be a string holding the network's JSON; got ${Array.isArray(config) ? 'an array' : typeof config}`,
    };
  const label = `${where}: ${NAD_KIND} ${namespace}/${name || '?'}`;
  const nad: Nad = {
    metadata: { name, namespace },
    ...(typeof config === 'string' ? { spec: { config } } : {}),
  };
  try {
    const net = networkOfNad(nad, namespace, confDir);
    const source = net.source.startsWith(NAD_KIND) ? 'spec.config' : net.source;
    const full: Nad = { ...nad, metadata: { ...nad.metadata, annotations: stringMap(meta.annotations) } };
    return { kind: 'nad', where: label, namespace, name, nad: full, raw: net.raw, source, problems };
  } catch (err) {
    const msg = err instanceof CniError ? err.message : describeError(err);
    return { kind: 'broken', where: label, path: 'spec.config', problem: msg.replace(/^[^:]*: /, '') };
  }
}

function docsOf(value: unknown, where: string, confDir: string): Doc[] {
  if (!isObj(value)) {
    return [
      { kind: 'broken', where, path: '', problem: 'not an object (a CNI config or a Kubernetes object)' },
    ];
  }
  if (value.kind === 'List' && Array.isArray(value.items)) {
    return value.items.flatMap((item, i) => docsOf(item, `${where} items[${i}]`, confDir));
  }
  if (value.kind === NAD_KIND) return [nadDoc(value, where, confDir)];
  if (typeof value.kind === 'string' && typeof value.apiVersion === 'string') {
    return [{ kind: 'broken', where, path: 'kind', problem: `${q(value.kind)} is not a ${NAD_KIND}` }];
  }
  return [{ kind: 'network', where, raw: value }];
}

function looksLikeJson(text: string): boolean {
  const t = text.trimStart();
  return t.startsWith('{') || t.startsWith('[');
}

/** The documents of a file; a file that cannot be read or parsed is one broken document. */
export async function readDocuments(file: string, confDir: string): Promise<Doc[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return [{ kind: 'broken', where: file, path: '', problem: `cannot read it: ${describeError(err)}` }];
  }
  if (looksLikeJson(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return [{ kind: 'broken', where: file, path: '', problem: `not valid JSON: ${describeError(err)}` }];
    }
    if (Array.isArray(value)) return value.flatMap((v, i) => docsOf(v, `${file} [${i}]`, confDir));
    return docsOf(value, file, confDir);
  }
  const { parseAllDocuments } = await import(/* webpackMode: "eager" */ 'yaml');
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Doc[] = [];
  list.forEach((d, i) => {
    const where = list.length > 1 ? `${file} (document ${i + 1})` : file;
    const err = d.errors[0];
    if (err) {
      out.push({ kind: 'broken', where, path: '', problem: `not valid YAML: ${err.message.split('\n')[0]}` });
      return;
    }
    const value: unknown = d.toJS();
    if (value === null || value === undefined) return; // an empty document (a trailing ---)
    out.push(...docsOf(value, where, confDir));
  });
  if (out.length === 0) out.push({ kind: 'broken', where: file, path: '', problem: 'holds no document' });
  return out;
}

const EXTENSIONS = ['.conf', '.conflist', '.json', '.yaml', '.yml'];

/** A directory stands for its network configs and NADs, in lexical order (as libcni reads a conf dir). */
export function filesOf(arg: string, cwd: string): string[] {
  try {
    if (!statSync(resolve(cwd, arg)).isDirectory()) return [arg];
  } catch {
    return [arg];
  }
  return readdirSync(resolve(cwd, arg))
    .filter((n) => EXTENSIONS.includes(extname(n)))
    .sort()
    .map((n) => join(arg, n));
}
