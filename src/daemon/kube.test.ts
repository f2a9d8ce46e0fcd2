/**
 * The daemon's Kubernetes view, the parts without a server: which credentials it takes
 * (--kubeconfig, else the in-cluster service account, else none), what it keeps of an object,
 * and that a cache that is not synced answers nothing (the call reads through) and counts a miss.
 */
import { describe, expect, it } from 'vitest';
import { daemonCredentials, isMirrorPod, KubeWatches, trimNad, trimPod } from './kube.ts';

describe('credentials', () => {
  it('--kubeconfig first, else the in-cluster env, else none', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(daemonCredentials('/etc/kc', env)?.from).toBe('kubeconfig "/etc/kc"');
    expect(daemonCredentials(undefined, env)?.from).toBe('in-cluster config');
    expect(daemonCredentials(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toBeUndefined();
    expect(daemonCredentials(undefined, {})).toBeUndefined();
  });
});

describe('what is kept of an object', () => {
  it('a pod: its metadata that calls read and spec.nodeName; a NAD: metadata and spec.config', () => {
    const pod = {
      kind: 'Pod',
      metadata: {
        name: 'p',
        namespace: 'ns',
        uid: 'u',
        resourceVersion: '5',
        annotations: { a: 'b' },
        labels: { x: 'y' },
        managedFields: [{ manager: 'kubelet' }],
        deletionTimestamp: '2026-01-01T00:00:00Z',
      },
      spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
      status: { phase: 'Running' },
    };
    expect(trimPod(pod)).toEqual({
      metadata: {
        name: 'p',
        namespace: 'ns',
        uid: 'u',
        resourceVersion: '5',
        annotations: { a: 'b' },
        deletionTimestamp: '2026-01-01T00:00:00Z',
      },
      spec: { nodeName: 'n1' },
    });
    const nad = {
      metadata: { name: 'n', namespace: 'ns', resourceVersion: '6' },
      spec: { config: '{}' },
      extra: 1,
    };
    expect(trimNad(nad)).toEqual({
      metadata: { name: 'n', namespace: 'ns', resourceVersion: '6' },
      spec: { config: '{}' },
    });
  });

  it('a mirror pod is known by its config source or mirror annotation', () => {
    expect(isMirrorPod({ metadata: { annotations: { 'kubernetes.io/config.source': 'file' } } })).toBe(true);
    expect(isMirrorPod({ metadata: { annotations: { 'kubernetes.io/config.mirror': 'abc' } } })).toBe(true);
    expect(isMirrorPod({ metadata: { annotations: { 'kubernetes.io/config.source': 'api' } } })).toBe(false);
    expect(isMirrorPod({ metadata: {} })).toBe(false);
  });
});

describe('lookups', () => {
  it('a cache that is not synced answers nothing, and counts a miss', () => {
    const k = new KubeWatches({
      credentials: { source: () => Promise.reject(new Error('not started')), from: 'test' },
      nodeName: 'n1',
      log: () => {},
    });
    expect(k.pod('ns', 'p', 'u')).toBeUndefined();
    expect(k.nad('ns', 'n')).toBeUndefined();
    expect(k.lookups).toEqual({ pod: { hit: 0, miss: 1 }, nad: { hit: 0, miss: 1 } });
    expect(k.metricLines()).toContain('manifold_kube_cache_lookups_total{resource="pods",result="miss"} 1');
    expect(k.metricLines()).toContain('manifold_kube_watch_synced{resource="pods"} 0');
  });
});
