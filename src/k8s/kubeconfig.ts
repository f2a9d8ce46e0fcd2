/**
 * A kubeconfig file (the meta config's `kubeconfig` field), read the way kubectl reads one:
 * the current context's cluster (server, certificate-authority or -data,
 * insecure-skip-tls-verify, tls-server-name) and user (client-certificate/-key or their
 * -data, token, tokenFile, username/password). Relative paths are relative to the file.
 * The file and every file it names are read again for each request (`kubeconfigSource`).
 * A JSON kubeconfig (what `manifold install` writes; JSON is YAML) is read without loading
 * the YAML parser, which is loaded only for YAML files.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod/mini';
import { CniError, Code, describeError, q } from '../cni/errors.ts';
import { parseWith } from '../cni/validate.ts';
import { readCredential, readToken, type Target, type TargetSource } from './target.ts';

const ClusterSchema = z.looseObject({
  server: z.string().check(z.minLength(1)),
  'certificate-authority': z.nullish(z.string()),
  'certificate-authority-data': z.nullish(z.string()),
  'insecure-skip-tls-verify': z.nullish(z.boolean()),
  'tls-server-name': z.nullish(z.string()),
});
const UserSchema = z.looseObject({
  'client-certificate': z.nullish(z.string()),
  'client-certificate-data': z.nullish(z.string()),
  'client-key': z.nullish(z.string()),
  'client-key-data': z.nullish(z.string()),
  token: z.nullish(z.string()),
  tokenFile: z.nullish(z.string()),
  username: z.nullish(z.string()),
  password: z.nullish(z.string()),
  exec: z.optional(z.unknown()),
  'auth-provider': z.optional(z.unknown()),
});
const ContextSchema = z.looseObject({ cluster: z.string(), user: z.nullish(z.string()) });

const KubeconfigSchema = z.looseObject({
  'current-context': z.nullish(z.string()),
  clusters: z.nullish(z.array(z.looseObject({ name: z.string(), cluster: ClusterSchema }))),
  users: z.nullish(z.array(z.looseObject({ name: z.string(), user: UserSchema }))),
  contexts: z.nullish(z.array(z.looseObject({ name: z.string(), context: ContextSchema }))),
});
type Kubeconfig = z.output<typeof KubeconfigSchema>;

function decode64(value: string, field: string, source: string): Buffer {
  const text = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new CniError(Code.InvalidConfig, `${source}: ${field}: not base64 data`);
  }
  return Buffer.from(text, 'base64');
}

function pick<T extends { name: string }>(
  list: readonly T[] | null | undefined,
  name: string,
): T | undefined {
  return (list ?? []).find((e) => e.name === name);
}

function contextOf(cfg: Kubeconfig, source: string): z.output<typeof ContextSchema> {
  const contexts = cfg.contexts ?? [];
  const current = cfg['current-context'];
  if (current) {
    const c = pick(contexts, current);
    if (!c)
      throw new CniError(Code.InvalidConfig, `${source}: current-context ${q(current)} is not in contexts`);
    return c.context;
  }
  if (contexts.length === 1 && contexts[0]) return contexts[0].context;
  throw new CniError(Code.InvalidConfig, `${source}: current-context is not set`);
}

/** Resolves a kubeconfig (already parsed) to a target; file paths relative to `dir`. */
export function targetOf(raw: unknown, dir: string, source: string): Target {
  const cfg = parseWith(KubeconfigSchema, raw ?? {}, source);
  const ctx = contextOf(cfg, source);
  const cluster = pick(cfg.clusters, ctx.cluster)?.cluster;
  if (!cluster)
    throw new CniError(Code.InvalidConfig, `${source}: cluster ${q(ctx.cluster)} is not in clusters`);
  const user = ctx.user ? pick(cfg.users, ctx.user)?.user : undefined;
  if (ctx.user && !user)
    throw new CniError(Code.InvalidConfig, `${source}: user ${q(ctx.user)} is not in users`);
  const file = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const material = (data: string | null | undefined, path: string | null | undefined, field: string) => {
    if (data) return decode64(data, `${field}-data`, source);
    if (path) return readCredential(file(path), field, source);
    return undefined;
  };
  if (user?.exec !== undefined || user?.['auth-provider'] !== undefined) {
    throw new CniError(
      Code.InvalidConfig,
      `${source}: user ${q(ctx.user)}: exec and auth-provider credentials are not supported: use a token, tokenFile or a client certificate`,
    );
  }
  const ca = material(
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'certificate-authority',
  );
  const cert = material(
    user?.['client-certificate-data'],
    user?.['client-certificate'],
    'client-certificate',
  );
  const key = material(user?.['client-key-data'], user?.['client-key'], 'client-key');
  if (!!cert !== !!key) {
    throw new CniError(
      Code.InvalidConfig,
      `${source}: a client certificate needs its key (and the key its certificate)`,
    );
  }
  const token =
    user?.token || (user?.tokenFile ? readToken(file(user.tokenFile), 'tokenFile', source) : undefined);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    ...(token ? { token } : {}),
    ...(user?.username && user.password
      ? { basic: { username: user.username, password: user.password } }
      : {}),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    ...(cluster['tls-server-name'] ? { tlsServerName: cluster['tls-server-name'] } : {}),
    source,
  };
}

async function parseText(text: string): Promise<unknown> {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      // YAML flow syntax is not always JSON: the YAML parser decides
    }
  }
  const { parse } = await import(/* webpackMode: "eager" */ 'yaml');
  return parse(text);
}

/** Reads and resolves the kubeconfig at `path` (YAML or JSON). */
export async function readKubeconfig(path: string): Promise<Target> {
  const source = `kubeconfig ${q(path)}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CniError(Code.InvalidConfig, `kubeconfig: cannot read ${q(path)}: ${describeError(err)}`);
  }
  let raw: unknown;
  try {
    raw = await parseText(text);
  } catch (err) {
    throw new CniError(Code.InvalidConfig, `${source}: not valid YAML: ${describeError(err).split('\n')[0]}`);
  }
  return targetOf(raw, dirname(path), source);
}

/** A source that reads the kubeconfig again for every request. */
export function kubeconfigSource(path: string): TargetSource {
  return () => readKubeconfig(path);
}
