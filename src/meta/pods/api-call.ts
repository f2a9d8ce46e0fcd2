/**
 * Kubernetes API failures as CNI errors: no answer within the budget is 11 (try again later:
 * the pod's networks cannot be known, so it is not started without them, Multus #1387);
 * refused credentials or permissions are 7 (the kubeconfig or the RBAC needs fixing); any
 * other refusal is 999 with the API server's message.
 */
import { CniError, Code } from '../../cni/errors.ts';
import { ApiError, UnreachableError } from '../../k8s/errors.ts';

export async function apiCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CniError) throw err;
    if (err instanceof UnreachableError) {
      throw new CniError(
        Code.TryAgainLater,
        `failed to ${what}: ${err.message}`,
        'the pod is not attached without the networks it asks for; the runtime will try again',
        { cause: err },
      );
    }
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      const why =
        err.status === 401
          ? 'the API server refused the credentials (401 Unauthorized): check the kubeconfig token or certificate'
          : `the API server refused the request (403 Forbidden: ${err.message}): check manifold's RBAC (deploy/rbac.yaml)`;
      throw new CniError(Code.InvalidConfig, `failed to ${what}: ${why}`, '', { cause: err });
    }
    if (err instanceof ApiError) {
      throw new CniError(Code.Internal, `failed to ${what}: ${err.message} (HTTP ${err.status})`, '', {
        cause: err,
      });
    }
    throw err;
  }
}
