/**
 * deploy/: the manifests parse, the DaemonSet runs install (init), install --watch (main) and
 * `uninstall --if-daemonset-deleted` (preStop: a restart keeps the node's config) with flags
 * the command line accepts, every container has a memory limit sized from a measured peak
 * (the figure in a comment), and the ClusterRole grants exactly what manifold uses (get pods,
 * patch pods/status, create events, get NADs, get daemonsets).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../../src/cli/cli.ts';
import { cliIO } from '../helpers/cli.ts';
import { scratchDir } from '../helpers/scratch.ts';

const DIR = join(import.meta.dirname, '../../deploy');
interface Container {
  name: string;
  command: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
  resources?: { limits?: { memory?: string } };
  lifecycle?: { preStop: { exec: { command: string[] } } };
}
interface Doc {
  kind: string;
  metadata: { name: string };
  rules?: { resources: string[]; verbs: string[] }[];
  spec?: { template: { spec: { initContainers: Container[]; containers: Container[] } } };
}
function docs(f: string): Doc[] {
  const parsed = parseAllDocuments(readFileSync(join(DIR, f), 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${f}: not YAML documents`);
  const errors = parsed.flatMap((d) => d.errors.map((e) => `${f}: ${e.message}`));
  if (errors.length > 0) throw new Error(errors.join('\n'));
  return parsed.map((d) => d.toJS() as Doc);
}

describe('deploy/', () => {
  it('every manifest is valid YAML', () => {
    for (const f of ['crd.yaml', 'rbac.yaml', 'daemonset.yaml']) expect(() => docs(f)).not.toThrow();
  });

  it('has the NAD CRD, RBAC and the DaemonSet', () => {
    expect(docs('crd.yaml').map((d) => d.metadata.name)).toEqual([
      'network-attachment-definitions.k8s.cni.cncf.io',
    ]);
    expect(docs('rbac.yaml').map((d) => d.kind)).toEqual([
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
    ]);
    const rules = docs('rbac.yaml')[1]?.rules ?? [];
    const verbs = (r: string) => rules.filter((x) => x.resources.includes(r)).flatMap((x) => x.verbs);
    expect(verbs('pods')).toEqual(['get']);
    expect(verbs('pods/status')).toEqual(['patch']);
    expect(verbs('events')).toEqual(['create']);
    expect(verbs('network-attachment-definitions')).toEqual(['get']);
    expect(verbs('daemonsets')).toEqual(['get']);
  });

  it('preStop uninstalls only when the DaemonSet is deleted, naming it through the environment', () => {
    const ds = docs('daemonset.yaml')[0] as Doc & { metadata: { name: string } };
    const main = ds.spec?.template.spec.containers[0];
    expect(main?.lifecycle?.preStop.exec.command).toContain('--if-daemonset-deleted');
    const env = Object.fromEntries((main?.env ?? []).map((e) => [e.name, e]));
    expect(env.MANIFOLD_DAEMONSET_NAME?.value).toBe(ds.metadata.name);
    expect(env.MANIFOLD_DAEMONSET_NAMESPACE?.valueFrom?.fieldRef.fieldPath).toBe('metadata.namespace');
  });

  it('every container has a memory limit, sized from a measured peak given in a comment', () => {
    const text = readFileSync(join(DIR, 'daemonset.yaml'), 'utf8');
    const spec = docs('daemonset.yaml')[0]?.spec?.template.spec;
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      expect(c.resources?.limits?.memory, c.name).toMatch(/^\d+Mi$/);
    }
    const measured = [...text.matchAll(/# measured: [^\n]*?([\d.]+) MiB/g)];
    expect(measured.length).toBeGreaterThanOrEqual(2);
  });

  it('runs commands the CLI accepts', async () => {
    const spec = docs('daemonset.yaml')[0]?.spec?.template.spec;
    const commands: string[][] = [
      spec?.initContainers[0]?.command ?? [],
      spec?.containers[0]?.command ?? [],
      spec?.containers[0]?.lifecycle?.preStop.exec.command ?? [],
    ];
    expect(commands.map((c) => c.slice(0, 2))).toEqual([
      ['/manifold', 'install'],
      ['/manifold', 'install'],
      ['/manifold', 'uninstall'],
    ]);
    for (const c of commands) {
      let err = '';
      // the node's dirs become empty temp dirs: the flags must parse (exit 1 = ran and failed, 2 = usage)
      const scratch = scratchDir('mf-deploy-');
      const args = c
        .slice(1)
        .map((a) => a.replace(/^--(bin-dir|conf-dir)=.*/, `--$1=${scratch}`))
        .filter((a) => a !== '--watch');
      const code = await runCli(args, cliIO({ stderr: (s) => (err += s) }), 't');
      expect(code, err).not.toBe(2);
    }
  });
});
