/**
 * Dependencies between folders flow one way (ARCHITECTURE.md). Every import of the shipped
 * code — static, re-export, dynamic import() and require() — is read from the source, and
 * the folders it joins are checked twice: no cycle at all, and no edge the layer table below
 * does not allow. A new folder, or a new edge, is a decision: make it here and in
 * ARCHITECTURE.md.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cycles, folderEdges, folderOf, importsOf, sourceFiles } from '../helpers/imports.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** What each folder may import, besides itself. `src/kernel` sees one file of `src/cni`. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'src/util': [],
  'src/ip': [],
  'src/native': [],
  'src/cni': ['src/ip', 'src/util'],
  'src/kernel': ['src/cni/errors.ts', 'src/ip', 'src/native', 'src/util'],
  'src/skel': ['src/cni', 'src/util'],
  'src/invoke': ['src/cni', 'src/skel', 'src/util'],
  'src/ipam': ['src/cni', 'src/ip', 'src/kernel', 'src/util'],
  'src/attach': ['src/cni', 'src/ip', 'src/ipam', 'src/kernel', 'src/util'],
  'src/k8s': ['src/cni', 'src/util'],
  'src/meta': ['src/attach', 'src/cni', 'src/invoke', 'src/ip', 'src/k8s', 'src/kernel', 'src/util'],
  /** explain/inspect read host-local's store with its own reader; add/del run plugins as libcni does. */
  'src/cli': [
    'src/cni',
    'src/invoke',
    'src/ip',
    'src/k8s',
    'src/kernel',
    'src/meta',
    'src/skel',
    'src/util',
    'plugins/host-local/store.ts',
  ],
  plugins: ['src/attach', 'src/cni', 'src/ip', 'src/ipam', 'src/kernel', 'src/util'],
  /** The composition root (main.ts, registry.ts, warm.ts) wires everything together. */
  src: ['*'],
};

function allowed(from: string, target: string): boolean {
  const rules = ALLOWED[from] ?? ALLOWED[from.split('/')[0] as string] ?? [];
  const to = folderOf(target);
  return rules.some((r) => r === '*' || r === to || r === target);
}

const files = [...sourceFiles(ROOT, 'src'), ...sourceFiles(ROOT, 'plugins')];
const edges = folderEdges(ROOT, files, (f) => readFileSync(join(ROOT, f), 'utf8'));

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

  it('finds the edges of the real code', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.some((e) => e.from === 'src/meta' && e.to === 'src/invoke')).toBe(true);
  });

  it('has no cycle between folders', () => {
    const found = cycles(edges).map((c) => {
      const why = c.slice(1).map((to, i) => {
        const e = edges.find((x) => x.from === c[i] && x.to === to);
        return `  ${c[i]} -> ${to} (${e?.file} imports ${e?.target})`;
      });
      return [c.join(' -> '), ...why].join('\n');
    });
    expect(found, `import cycles:\n${found.join('\n')}`).toEqual([]);
  });

  it('imports only what the layer table allows', () => {
    const bad = edges.filter((e) => !allowed(e.from, e.target)).map((e) => `${e.file} -> ${e.target}`);
    expect(bad, `imports against the layering (ARCHITECTURE.md):\n${bad.join('\n')}`).toEqual([]);
  });

  it('knows every folder', () => {
    const unknown = [...new Set(files.map(folderOf))].filter(
      (f) => !(f in ALLOWED) && !f.startsWith('plugins/') && f !== 'src/sea',
    );
    expect(unknown, 'folders missing from the layer table').toEqual([]);
  });
});
