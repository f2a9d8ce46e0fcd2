/** ADD waits for the default network's readiness indicator file, as Multus does. */
import { existsSync } from 'node:fs';
import { CniError, Code, q } from '../cni/errors.ts';

const POLL_MS = 100;

export async function waitForFile(path: string, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!existsSync(path)) {
    if (Date.now() >= deadline) {
      throw new CniError(
        Code.TryAgainLater,
        `the default network is not ready: readinessindicatorfile ${q(path)} did not appear within ${timeoutSeconds} s`,
        'is the cluster network plugin running on this node?',
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
