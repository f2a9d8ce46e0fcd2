/**
 * The in-cluster config, as client-go builds it: KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT, the service account's token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount. The token is read for every request.
 */
import { join } from 'node:path';
import { CniError, Code } from '../cni/errors.ts';
import { readCredential, readToken, type Target, type TargetSource } from './target.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Env = Readonly<Record<string, string | undefined>>;

/** Whether the environment names an in-cluster API server. */
export function hasInClusterEnv(env: Env): boolean {
  return !!env.KUBERNETES_SERVICE_HOST && !!env.KUBERNETES_SERVICE_PORT;
}

export function inClusterSource(env: Env, dir = SERVICE_ACCOUNT_DIR): TargetSource {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (!host || !port) {
    throw new CniError(
      Code.InvalidConfig,
      'in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set',
    );
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const source = 'in-cluster config';
  return (): Target => ({
    server,
    ca: readCredential(join(dir, 'ca.crt'), 'ca.crt', source),
    token: readToken(join(dir, 'token'), 'token', source),
    insecureSkipTlsVerify: false,
    source,
  });
}
