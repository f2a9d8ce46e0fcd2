/**
 * preStop's `uninstall --if-daemonset-deleted` against the stand-in API server: a restart or a
 * rolling update (the DaemonSet is there) keeps the node's config, so pods deleted meanwhile
 * still lose their NAD attachments; a DaemonSet gone (404) or being deleted (deletionTimestamp)
 * is manifold being removed, and the config goes (Multus #1105).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { makePki } from '../helpers/pki.ts';

const root = mkdtempSync(join(tmpdir(), 'mf-uninstall-ds-'));
const confDir = join(root, 'net.d');
const kubeconfig = join(root, 'kubeconfig');
const api = new FakeApiServer(makePki());
const env = { MANIFOLD_DAEMONSET_NAMESPACE: 'kube-system', MANIFOLD_DAEMONSET_NAME: 'manifold' };
const conf = join(confDir, '00-manifold.conflist');

beforeAll(async () => {
  mkdirSync(confDir);
  await api.start();
  api.tokens.add('t');
  api.writeKubeconfig(kubeconfig, { token: 't' });
});
afterAll(async () => {
  await api.stop();
  rmSync(root, { recursive: true, force: true });
});

function installed(): void {
  writeFileSync(conf, JSON.stringify({ cniVersion: '1.0.0', name: 'm', plugins: [{ type: 'manifold' }] }));
}
const preStop = () =>
  cli(['uninstall', `--conf-dir=${confDir}`, '--if-daemonset-deleted', '--kubeconfig', kubeconfig], { env });

describe('uninstall --if-daemonset-deleted', () => {
  it('keeps the config when the DaemonSet is there (a restart, a rolling update)', async () => {
    installed();
    api.daemonSets.set('kube-system/manifold', { metadata: { name: 'manifold', namespace: 'kube-system' } });
    const r = await preStop();
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('DaemonSet kube-system/manifold is still there: a restart, the config stays\n');
    expect(existsSync(conf)).toBe(true);
    expect(api.log.at(-1)).toMatchObject({
      method: 'GET',
      path: '/apis/apps/v1/namespaces/kube-system/daemonsets/manifold',
      status: 200,
    });
  });

  it('removes it when the DaemonSet is being deleted, or gone', async () => {
    installed();
    api.daemonSets.set('kube-system/manifold', {
      metadata: { name: 'manifold', namespace: 'kube-system', deletionTimestamp: '2025-01-01T00:00:00Z' },
    });
    let r = await preStop();
    expect(r.out).toBe(`DaemonSet kube-system/manifold is being deleted\nconfig: ${conf} (removed)\n`);
    expect(existsSync(conf)).toBe(false);
    installed();
    api.daemonSets.clear();
    r = await preStop();
    expect(r.out).toBe(`DaemonSet kube-system/manifold is gone\nconfig: ${conf} (removed)\n`);
    expect(existsSync(conf)).toBe(false);
    expect(api.log.at(-1)?.status).toBe(404);
  });

  it('without the DaemonSet named, uninstalls as before (and says why)', async () => {
    installed();
    const r = await cli(['uninstall', `--conf-dir=${confDir}`, '--if-daemonset-deleted'], { env: {} });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^MANIFOLD_DAEMONSET_NAMESPACE and MANIFOLD_DAEMONSET_NAME are not set/);
    expect(existsSync(conf)).toBe(false);
  });
});
