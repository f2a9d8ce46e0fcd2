/**
 * deploy/: the manifests parse, the DaemonSet runs install (init), install --watch (main) and
 * uninstall (preStop) with flags the command line accepts, and the ClusterRole grants exactly
 * what manifold uses (get pods, update pods/status, get NADs).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../../src/cli/cli.ts';
import { cliIO } from '../helpers/cli.ts';

const DIR = join(import.meta.dirname, '../../deploy');
interface Container {
  command: string[];
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
    expect(verbs('pods/status')).toContain('update');
    expect(verbs('network-attachment-definitions')).toEqual(['get']);
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
      const scratch = mkdtempSync(join(tmpdir(), 'mf-deploy-'));
      const args = c
        .slice(1)
        .map((a) => a.replace(/^--(bin-dir|conf-dir)=.*/, `--$1=${scratch}`))
        .filter((a) => a !== '--watch');
      const code = await runCli(args, cliIO({ stderr: (s) => (err += s) }), 't');
      expect(code, err).not.toBe(2);
    }
  });
});
