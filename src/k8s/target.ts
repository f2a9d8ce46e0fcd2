/**
 * Where the API server is and how to prove who we are: what a kubeconfig or the in-cluster
 * service account resolves to. A `TargetSource` is called before every request, so a token
 * file or a kubeconfig rewritten while manifold runs (a rotated service-account token,
 * Multus #852) is used from the next request on.
 */
import { readFileSync } from 'node:fs';
import { CniError, Code, describeError, q } from '../cni/errors.ts';

export interface Target {
  /** `https://host:port` (a path prefix is kept). */
  readonly server: string;
  /** PEM of the CA bundle; undefined: the system's roots. */
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
  readonly basic?: { readonly username: string; readonly password: string };
  readonly insecureSkipTlsVerify: boolean;
  /** SNI and certificate name to check instead of the server's host. */
  readonly tlsServerName?: string;
  /** For messages: `kubeconfig "/etc/cni/net.d/manifold.d/manifold.kubeconfig"` or `in-cluster config`. */
  readonly source: string;
}

export type TargetSource = () => Target | Promise<Target>;

/** A credential file, read now; failures are config errors (code 7) naming the field. */
export function readCredential(path: string, field: string, source: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CniError(
      Code.InvalidConfig,
      `${source}: ${field}: cannot read ${q(path)}: ${describeError(err)}`,
    );
  }
}

/** A bearer token as kubectl reads one from a file: surrounding white space dropped. */
export function readToken(path: string, field: string, source: string): string {
  return readCredential(path, field, source).toString('utf8').trim();
}
