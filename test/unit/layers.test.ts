/**
 * Dependencies between folders flow one way (ARCHITECTURE.md). Every import of the shipped
 * code — static, re-export, dynamic import() and require() — is read from the source, and
 * checked three times: no edge the layer table below does not allow, no cycle between
 * folders (a sub-folder is a folder of its own: src/meta/pods is not src/meta), no cycle
 * between files. A new folder, or a new edge, is a decision: make it here and in
 * ARCHITECTURE.md.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cycles,
  type Edge,
  fileEdges,
  folderEdges,
  folderOf,
  importsOf,
  sourceFiles,
} from '../helpers/imports.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * What each folder may import, besides itself. A rule is a folder (not its sub-folders), one
 * file, `src/cli/*` (every sub-folder of src/cli), or `import(<folder or file>)`: a lazy
 * entry, reached only by a dynamic import() — the code behind it loads only when a call needs
 * it, and it may import back (such an edge makes no cycle: nothing loads in a circle).
 * `src/kernel` sees one file of `src/cni`.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'src/util': [],
  'src/ip': [],
  'src/native': [],
  'src/cni': ['src/ip', 'src/util'],
  /** netlink messages, attributes and constants: below the rest of the kernel layer. */
  'src/kernel/nl': ['src/cni/errors.ts', 'src/ip', 'src/native', 'src/util'],
  'src/kernel': ['src/cni/errors.ts', 'src/ip', 'src/kernel/nl', 'src/native', 'src/util'],
  'src/skel': ['src/cni', 'src/util'],
  'src/invoke': ['src/cni', 'src/skel', 'src/util'],
  'src/ipam': ['src/cni', 'src/ip', 'src/kernel', 'src/kernel/nl', 'src/util'],
  'src/attach': ['src/cni', 'src/ip', 'src/ipam', 'src/kernel', 'src/kernel/nl', 'src/util'],
  'src/k8s': ['src/cni', 'src/util'],
  /** Multi-homing: called by the core, knows nothing of it. */
  'src/meta/multihome': ['src/attach', 'src/cni', 'src/ip', 'src/kernel', 'src/kernel/nl', 'src/util'],
  /**
   * The core of the meta-plugin: no Kubernetes code. It reaches pods/ through one lazy entry,
   * kubernetes.ts's import() of pods/pod-networks.ts, and nothing else.
   */
  'src/meta': [
    'src/attach',
    'src/cni',
    'src/invoke',
    'src/ip',
    'src/kernel',
    'src/util',
    'src/meta/multihome',
    'import(src/meta/pods/pod-networks.ts)',
  ],
  /** Kubernetes pods: the pod's delegates, network-status, events; uses the core, never the other way. */
  'src/meta/pods': [
    'src/cni',
    'src/invoke',
    'src/ip',
    'src/k8s',
    'src/util',
    'src/meta',
    'src/meta/multihome',
  ],
  /** The command table (cli.ts): it loads each command folder, and knows nothing else. */
  'src/cli': ['src/cli/*', 'src/cni'],
  /**
   * One folder per command, and what they share (src/cli/common); a command never imports
   * another. explain/inspect read host-local's store with its own reader; add/del run plugins
   * as libcni does.
   */
  'src/cli/*': [
    'src/cli/common',
    'src/cni',
    'src/invoke',
    'src/ip',
    'src/k8s',
    'src/kernel',
    'src/kernel/nl',
    'src/meta',
    'src/meta/multihome',
    'src/meta/pods',
    'src/skel',
    'src/util',
    'plugins/host-local/store.ts',
  ],
  /**
   * Daemon mode's server (socket, HTTP framing, scheduler, metrics, health): it runs calls
   * through the skel with the plugins the composition root hands it, as one-shot does; its
   * Kubernetes watches and kept-alive connection (kube.ts) use the API client.
   */
  'src/daemon': ['src/cni', 'src/k8s', 'src/skel', 'src/util'],
  /**
   * `manifold daemon`: a command like the others, which also starts the server; it reads the
   * meta-plugin's cache files for garbage collection, and does hot-plug's work on them with
   * the meta-plugin's own pieces (hotplug-ops.ts), so src/daemon need not.
   */
  'src/cli/daemon': [
    'src/cli/common',
    'src/cni',
    'src/daemon',
    'src/invoke',
    'src/k8s',
    'src/meta',
    'src/meta/pods',
    'src/skel',
    'src/util',
  ],
  plugins: ['src/attach', 'src/cni', 'src/ip', 'src/ipam', 'src/kernel', 'src/kernel/nl', 'src/util'],
  /** The composition root (main.ts, registry.ts, warm.ts) wires everything together. */
  src: ['*'],
};

/** The row of a folder: its own, else its parent's `<parent>/*`, else (plugins/<name>) its top folder's. */
function rulesOf(from: string): readonly string[] {
  const parent = from.split('/').slice(0, -1).join('/');
  return ALLOWED[from] ?? ALLOWED[`${parent}/*`] ?? ALLOWED[from.split('/')[0] as string] ?? [];
}

function matches(rule: string, e: Edge): boolean {
  if (rule === '*') return true;
  if (rule.endsWith('/*')) return e.to.startsWith(rule.slice(0, -1)) && e.to !== rule.slice(0, -2);
  return rule === e.to || rule === e.target;
}

/** A dynamic import() of a lazy entry its table row names. */
function lazyEntry(e: Edge): boolean {
  return e.dynamic && rulesOf(e.from).some((r) => r.startsWith('import(') && matches(r.slice(7, -1), e));
}

function allowed(e: Edge): boolean {
  return lazyEntry(e) || rulesOf(e.from).some((r) => !r.startsWith('import(') && matches(r, e));
}

function showCycles(found: readonly string[][], among: readonly Edge[]): string[] {
  return found.map((c) => {
    const why = c.slice(1).map((to, i) => {
      const e = among.find((x) => x.from === c[i] && x.to === to);
      return `  ${c[i]} -> ${to} (${e?.file} imports ${e?.target}${e?.dynamic ? ', dynamic' : ''})`;
    });
    return [c.join(' -> '), ...why].join('\n');
  });
}

const files = [...sourceFiles(ROOT, 'src'), ...sourceFiles(ROOT, 'plugins')];
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');
const edges = folderEdges(ROOT, files, read);

/** Known file cycles outside the rule's reach (none may be added): v0.2.0 results convert through result.ts. */
const KNOWN_FILE_CYCLES: readonly string[] = [
  'src/cni/result.ts -> src/cni/result020.ts -> src/cni/result.ts',
];

describe('folder dependencies', () => {
  it('read every kind of import (the test itself can see a cycle)', () => {
    expect(importsOf(`import a from './a.ts';\nexport { b } from '../b.ts';\nimport('../c.ts');`)).toEqual([
      './a.ts',
      '../b.ts',
      '../c.ts',
    ]);
    expect(importsOf(`await import(/* webpackMode: "eager" */ '../d.ts'); require('./e.cjs');`)).toEqual([
      '../d.ts',
      './e.cjs',
    ]);
    const planted = folderEdges(ROOT, ['src/invoke/x.ts', 'src/meta/y.ts'], (f) =>
      f === 'src/invoke/x.ts' ? `import { y } from '../meta/y.ts';` : `import { x } from '../invoke/x.ts';`,
    );
    expect(cycles(planted)).toEqual([['src/invoke', 'src/meta', 'src/invoke']]);
  });

  it('sees a sub-folder as a folder, and a dynamic import() as one', () => {
    expect(folderOf('src/meta/pods/nad.ts')).toBe('src/meta/pods');
    expect(folderOf('src/meta/add.ts')).toBe('src/meta');
    expect(folderOf('src/main.ts')).toBe('src');
    expect(folderOf('plugins/bridge/bridge.ts')).toBe('plugins/bridge');
    const planted = folderEdges(ROOT, ['src/meta/a.ts', 'src/meta/pods/b.ts'], (f) =>
      f === 'src/meta/a.ts'
        ? `import { b } from './pods/b.ts'; await import('./pods/pod-networks.ts');`
        : `import { a } from '../a.ts';`,
    );
    expect(planted.map((e) => [e.from, e.to, e.dynamic])).toEqual([
      ['src/meta', 'src/meta/pods', false],
      ['src/meta', 'src/meta/pods', true],
      ['src/meta/pods', 'src/meta', false],
    ]);
    expect(planted.map(allowed)).toEqual([false, true, true]);
  });

  it('finds the edges of the real code', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.some((e) => e.from === 'src/meta' && e.to === 'src/invoke')).toBe(true);
    expect(edges.some((e) => e.from === 'src/meta/pods' && e.to === 'src/meta')).toBe(true);
    expect(edges.some((e) => e.from === 'src/meta' && e.to === 'src/meta/pods' && lazyEntry(e))).toBe(true);
  });

  it('has no cycle between folders (a lazy entry aside)', () => {
    const layered = edges.filter((e) => !lazyEntry(e));
    const found = showCycles(cycles(layered), layered);
    expect(found, `import cycles:\n${found.join('\n')}`).toEqual([]);
  });

  it('has no cycle between files', () => {
    const all = fileEdges(ROOT, files, read);
    const found = showCycles(cycles(all), all).filter(
      (c) => !KNOWN_FILE_CYCLES.includes(c.split('\n')[0] ?? ''),
    );
    expect(found, `import cycles between files:\n${found.join('\n')}`).toEqual([]);
  });

  it('imports only what the layer table allows', () => {
    const bad = edges
      .filter((e) => !allowed(e))
      .map((e) => `${e.file} -> ${e.target}${e.dynamic ? ' (dynamic)' : ''}`);
    expect(bad, `imports against the layering (ARCHITECTURE.md):\n${bad.join('\n')}`).toEqual([]);
  });

  it('knows every folder', () => {
    const unknown = [...new Set(files.map(folderOf))].filter(
      (f) =>
        !(f in ALLOWED) &&
        !(`${f.split('/').slice(0, -1).join('/')}/*` in ALLOWED) &&
        !f.startsWith('plugins/') &&
        f !== 'src/sea',
    );
    expect(unknown, 'folders missing from the layer table').toEqual([]);
  });
});
