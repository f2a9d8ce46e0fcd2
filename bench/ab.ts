/**
 * A/B of two manifold builds, interleaved in one run: ADD and DEL of a pod on N networks
 * through libcni (one meta call each way), each build's bin directory given.
 *
 *   node bench/ab.ts <dirA> <dirB> [--n 1,8] [--rounds 15]
 *
 * Prints medians (min–max) per build and the ratio A/B, of wall time and of the plugin
 * processes' CPU time (less disturbed by other load on the machine). For judging one change: build before
 * and after, copy each dist/bin away (cp -a), compare.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stats } from './stats.ts';
import { buildDriver, CNIBENCH, preconditions, World } from './world.ts';

const [dirA, dirB] = process.argv
  .slice(2)
  .filter((a) => !a.startsWith('--'))
  .map((d) => resolve(d));
const opt = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
if (!dirA || !dirB) {
  process.stderr.write('usage: node bench/ab.ts <binDirA> <binDirB> [--n 1,8] [--rounds 15]\n');
  process.exit(2);
}
const SIZES = opt('n', '1,8').split(',').map(Number);
const ROUNDS = Number(opt('rounds', '15'));

preconditions();
await buildDriver();
const world = new World(0);
let seq = 0;
const run = (dir: string, n: number) =>
  new Promise<{ addMs: number; delMs: number; addCpuMs: number; delCpuMs: number }>((ok, fail) => {
    const env = Object.fromEntries(world.env.map((kv) => kv.split(/=(.*)/s)));
    const child = execFile(CNIBENCH, [], { env }, (err, out, stderr) =>
      err ? fail(new Error(stderr || err.message)) : ok(JSON.parse(out).pods[0]),
    );
    const plan = {
      cniPath: dir,
      cacheDir: join(world.work, 'libcni'),
      pods: [
        { containerId: `ab${++seq}`, netns: `/run/netns/${world.podNs}`, confs: world.confs('manifold', n) },
      ],
    };
    child.stdin?.end(JSON.stringify(plan));
  });
try {
  const got = new Map<string, { add: number[]; del: number[]; addCpu: number[]; delCpu: number[] }>();
  for (let r = -1; r < ROUNDS; r++) {
    for (const n of SIZES) {
      for (const [k, dir] of (r % 2
        ? [
            ['A', dirA],
            ['B', dirB],
          ]
        : [
            ['B', dirB],
            ['A', dirA],
          ]) as [string, string][]) {
        const t = await run(dir, n);
        if (r < 0) continue; // warm-up
        const s = got.get(`${k}${n}`) ?? { add: [], del: [], addCpu: [], delCpu: [] };
        s.add.push(t.addMs);
        s.del.push(t.delMs);
        s.addCpu.push(t.addCpuMs);
        s.delCpu.push(t.delCpuMs);
        got.set(`${k}${n}`, s);
      }
    }
  }
  const f = (xs: number[]) => {
    const s = stats(xs);
    return `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  };
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(`A = ${dirA}\nB = ${dirB}\n${ROUNDS} rounds, load ${load}\n`);
  for (const n of SIZES) {
    const a = got.get(`A${n}`);
    const b = got.get(`B${n}`);
    if (!a || !b) continue;
    for (const v of ['add', 'del', 'addCpu', 'delCpu'] as const) {
      const ra = stats(a[v]).median / stats(b[v]).median;
      process.stdout.write(`N=${n} ${v.toUpperCase()}  A ${f(a[v])}  B ${f(b[v])}  A/B ${ra.toFixed(3)}\n`);
    }
    const both = (x: { add: number[]; del: number[] }) => x.add.map((v, i) => v + (x.del[i] ?? 0));
    process.stdout.write(
      `N=${n} ADD+DEL  A ${f(both(a))}  B ${f(both(b))}  A/B ${(stats(both(a)).median / stats(both(b)).median).toFixed(3)}\n`,
    );
  }
} finally {
  world.close();
}
