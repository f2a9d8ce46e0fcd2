/**
 * The import graph of the shipped code, for test/unit/layers.test.ts: every import — static,
 * re-export, dynamic import() and require() — of `.ts`/`.cjs` files under src/ and plugins/
 * (tests excluded), as edges between folders (every sub-folder of src/ is a folder of its
 * own: src/meta/pods is not src/meta) and between files, and their cycles.
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

export interface ImportRef {
  readonly spec: string;
  /** A dynamic `import()`: loaded when the code runs it, not with the importing file. */
  readonly dynamic: boolean;
}

/** The relative specifiers a file imports, in any form, and whether each is a dynamic import(). */
export function importRefs(text: string): ImportRef[] {
  const refs: ImportRef[] = [];
  const forms: [RegExp, boolean][] = [
    [/\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, false],
    [/\bimport\s*['"]([^'"]+)['"]/g, false],
    [/\bimport\(\s*(?:\/\*[\s\S]*?\*\/\s*)?['"]([^'"]+)['"]/g, true],
    [/\brequire\(\s*['"]([^'"]+)['"]/g, false],
  ];
  for (const [re, dynamic] of forms)
    for (const m of text.matchAll(re)) if (m[1]?.startsWith('.')) refs.push({ spec: m[1], dynamic });
  return refs;
}

/** The relative specifiers a file imports, in any form. */
export function importsOf(text: string): string[] {
  return importRefs(text).map((r) => r.spec);
}

/**
 * The folder a file belongs to: its directory under src/ (src/kernel/nl, src/meta/pods, src;
 * a `build` output directory is its folder's: src/native/build/… is src/native), or
 * `plugins/<name>`.
 */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'plugins') return `plugins/${parts[1]}`;
  const build = parts.indexOf('build');
  return parts.slice(0, build > 0 ? build : -1).join('/') || 'src';
}

export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly target: string;
  readonly dynamic: boolean;
}

/** Every import of `files` as an edge from the importing file to the imported one. */
export function fileEdges(root: string, files: readonly string[], read: (f: string) => string): Edge[] {
  return files.flatMap((file) =>
    importRefs(read(file)).map(({ spec, dynamic }) => {
      const target = relative(root, resolve(root, dirname(file), spec));
      return { from: file, to: target, file, target, dynamic };
    }),
  );
}

/** The imports that cross folders, as edges between the folders (file and target kept). */
export function folderEdges(root: string, files: readonly string[], read: (f: string) => string): Edge[] {
  return fileEdges(root, files, read)
    .map((e) => ({ ...e, from: folderOf(e.file), to: folderOf(e.target) }))
    .filter((e) => e.from !== e.to);
}

/** A shortest cycle through each strongly connected group of nodes (folders or files), as `a -> b -> … -> a` (Tarjan, then BFS). */
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
