/**
 * The folder-level import graph of the shipped code, for test/unit/layers.test.ts: every
 * import — static, re-export, dynamic import() and require() — of `.ts`/`.cjs` files under
 * src/ and plugins/ (tests excluded), folded into edges between folders, and its cycles.
 */
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SOURCE = /\.(ts|cjs)$/;
const TEST = /\.test\.ts$/;

/** The shipped source files under `dir` (relative to `root`). */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'build' && e.name !== 'node_modules') out.push(...sourceFiles(root, rel));
    } else if (SOURCE.test(e.name) && !TEST.test(e.name) && !e.name.endsWith('.d.cts')) {
      out.push(rel);
    }
  }
  return out;
}

/** The relative specifiers a file imports, in any form. */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const forms = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*(?:\/\*[\s\S]*?\*\/\s*)?['"]([^'"]+)['"]/g,
    /\brequire\(\s*['"]([^'"]+)['"]/g,
  ];
  for (const re of forms) for (const m of text.matchAll(re)) if (m[1]?.startsWith('.')) specs.push(m[1]);
  return specs;
}

/** The folder a file belongs to: `src/<dir>` (src/kernel/nl is src/kernel), `plugins/<name>`, or `src`. */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'plugins') return `plugins/${parts[1]}`;
  return parts.length > 2 ? `src/${parts[1]}` : 'src';
}

export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly target: string;
}

export function folderEdges(root: string, files: readonly string[], read: (f: string) => string): Edge[] {
  const edges: Edge[] = [];
  for (const file of files) {
    for (const spec of importsOf(read(file))) {
      const target = relative(root, resolve(root, dirname(file), spec));
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) edges.push({ from, to, file, target });
    }
  }
  return edges;
}

/** A shortest cycle through each strongly connected group of folders, as `a -> b -> … -> a` (Tarjan, then BFS). */
export function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...new Set([...(next.get(e.from) ?? []), e.to])]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      group.push(w);
      if (w === v) break;
    }
    if (group.length > 1) groups.push(group.sort());
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return groups.map((group) => shortestCycle(group, next));
}

function shortestCycle(group: readonly string[], next: ReadonlyMap<string, readonly string[]>): string[] {
  const start = group[0] as string;
  const inGroup = new Set(group);
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of next.get(v) ?? []) {
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = from.get(u))
          path.splice(1, 0, u);
        return [...path, start];
      }
      if (inGroup.has(w) && !from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...group, start];
}
