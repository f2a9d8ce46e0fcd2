/**
 * What the bench prints and writes: the table of ratios with the issue's targets (text for
 * the terminal, Markdown for bench/results.md) and a hand-rolled SVG chart of ADD+DEL time
 * against the number of networks, both implementations, medians with min–max bars. Both
 * files are generated (biome leaves them alone).
 */
import type { Stats } from './stats.ts';

export interface Pair {
  readonly manifold: Stats;
  readonly reference: Stats;
}

export interface Size {
  readonly n: number;
  readonly both: Pair;
  readonly add: Pair;
  readonly del: Pair;
}

export interface Results {
  readonly date: string;
  readonly load: readonly [string, string];
  readonly cpus: number;
  readonly rounds: number;
  readonly sizes: readonly Size[];
  /** ms per extra attachment, ADD+DEL (slope of the medians over N). */
  readonly marginal: { readonly manifold: number; readonly reference: number };
  readonly version: { readonly manifold: Stats; readonly node: Stats; readonly reference: Stats };
  /** Peak RSS of one manifold ADD of 8 attachments, MiB (median of the runs). */
  readonly rssMiB: { readonly manifold: number; readonly reference: number };
  readonly concurrent: { readonly pods: number; readonly networks: number } & Pair;
}

interface Target {
  readonly what: string;
  readonly value: string;
  readonly target: string;
  readonly met: boolean;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const range = (s: Stats) => `${s.min.toFixed(1)}–${s.max.toFixed(1)}`;
const x2 = (r: number) => `${r.toFixed(2)}×`;
const RATIO_TARGET: Readonly<Record<number, number>> = { 1: 1.5, 4: 0.5, 8: 0.3, 16: 0.2 };

export function targets(r: Results): Target[] {
  const out: Target[] = [];
  for (const s of r.sizes) {
    const goal = RATIO_TARGET[s.n];
    if (goal === undefined) continue;
    const ratio = s.both.manifold.median / s.both.reference.median;
    out.push({ what: `ADD+DEL ratio, N=${s.n}`, value: x2(ratio), target: `≤ ${goal}×`, met: ratio <= goal });
  }
  out.push({
    what: 'marginal cost per attachment (ADD+DEL)',
    value: ms(r.marginal.manifold),
    target: '≤ 3 ms',
    met: r.marginal.manifold <= 3,
  });
  const one = r.sizes.find((s) => s.n === 1);
  if (one) {
    const limit = r.version.manifold.median + 10;
    out.push({
      what: 'one-attachment ADD vs VERSION + 10 ms',
      value: ms(one.add.manifold.median),
      target: `≤ ${ms(limit)}`,
      met: one.add.manifold.median <= limit,
    });
  }
  const vr = r.version.manifold.median / r.version.node.median;
  out.push({ what: 'VERSION vs node -e 0', value: x2(vr), target: '≤ 1.1×', met: vr <= 1.1 });
  out.push({
    what: 'peak RSS, 8-attachment ADD',
    value: `${r.rssMiB.manifold.toFixed(1)} MiB`,
    target: '≤ 80 MiB',
    met: r.rssMiB.manifold <= 80,
  });
  const c = r.concurrent.manifold;
  out.push({
    what: `${r.concurrent.pods} concurrent meta ADDs, p99 / p50`,
    value: `${x2(c.p99 / c.median)} (p50 ${ms(c.median)}, p99 ${ms(c.p99)})`,
    target: '≤ 2×',
    met: c.p99 <= 2 * c.median,
  });
  return out;
}

function header(r: Results): string {
  return `${r.date}, ${r.cpus} CPUs, load average ${r.load[0]} at the start and ${r.load[1]} at the end; ${r.rounds} interleaved rounds`;
}

export function text(r: Results): string {
  const pad = (s: string, w: number) => s.padEnd(w);
  const lines = [`manifold bench — ${header(r)}`, ''];
  const row = (label: string, p: Pair) =>
    `  ${pad(label, 26)} ${pad(`${ms(p.manifold.median)} (${range(p.manifold)})`, 26)} ${pad(`${ms(p.reference.median)} (${range(p.reference)})`, 26)} ${x2(p.manifold.median / p.reference.median)}`;
  lines.push(
    `  ${pad('', 26)} ${pad('manifold (1 call each way)', 26)} ${pad('libcni + reference', 26)} ratio`,
  );
  for (const s of r.sizes) {
    lines.push(row(`ADD+DEL, ${s.n} network${s.n > 1 ? 's' : ''}`, s.both));
    lines.push(row('  ADD', s.add));
    lines.push(row('  DEL', s.del));
  }
  lines.push(
    '',
    `  marginal per attachment: manifold ${ms(r.marginal.manifold)}, reference ${ms(r.marginal.reference)}`,
    `  VERSION: manifold ${ms(r.version.manifold.median)}, node -e 0 ${ms(r.version.node.median)}, reference (Go) ${ms(r.version.reference.median)}`,
    `  peak RSS of an 8-network ADD: manifold ${r.rssMiB.manifold.toFixed(1)} MiB, reference (largest plugin process) ${r.rssMiB.reference.toFixed(1)} MiB`,
    `  ${r.concurrent.pods} concurrent ADDs of ${r.concurrent.networks} networks: manifold p50 ${ms(r.concurrent.manifold.median)} p99 ${ms(r.concurrent.manifold.p99)}; reference p50 ${ms(r.concurrent.reference.median)} p99 ${ms(r.concurrent.reference.p99)}`,
    '',
    '  targets:',
    ...targets(r).map(
      (t) => `    ${t.met ? 'met    ' : 'NOT MET'} ${pad(t.what, 42)} ${pad(t.value, 34)} ${t.target}`,
    ),
  );
  return `${lines.join('\n')}\n`;
}

export function markdown(r: Results): string {
  const cell = (s: Stats) => `${s.median.toFixed(1)} (${range(s)})`;
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (see [README.md](README.md) for what is measured). ${header(r)}.`,
    'Milliseconds: median (min–max). manifold: one meta-plugin call each way, driven by libcni;',
    "reference: libcni driving Debian's macvlan + host-local once per network, from one process.",
    '',
    '![ADD+DEL time against the number of networks](results.svg)',
    '',
    '| networks | manifold ADD+DEL | reference ADD+DEL | ratio | manifold ADD | reference ADD | manifold DEL | reference DEL |',
    '| -: | -: | -: | -: | -: | -: | -: | -: |',
    ...r.sizes.map(
      (s) =>
        `| ${s.n} | ${cell(s.both.manifold)} | ${cell(s.both.reference)} | ${x2(s.both.manifold.median / s.both.reference.median)} | ${cell(s.add.manifold)} | ${cell(s.add.reference)} | ${cell(s.del.manifold)} | ${cell(s.del.reference)} |`,
    ),
    '',
    '| | manifold | reference |',
    '| - | -: | -: |',
    `| marginal cost per attachment, ADD+DEL | ${ms(r.marginal.manifold)} | ${ms(r.marginal.reference)} |`,
    `| VERSION (\`node -e 0\`: ${cell(r.version.node)}) | ${cell(r.version.manifold)} | ${cell(r.version.reference)} |`,
    `| peak RSS, ADD of 8 networks | ${r.rssMiB.manifold.toFixed(1)} MiB | ${r.rssMiB.reference.toFixed(1)} MiB (largest plugin process) |`,
    `| ${r.concurrent.pods} concurrent ADDs of ${r.concurrent.networks} networks, p50 / p99 | ${ms(r.concurrent.manifold.median)} / ${ms(r.concurrent.manifold.p99)} | ${ms(r.concurrent.reference.median)} / ${ms(r.concurrent.reference.p99)} |`,
    '',
    '| target | value | goal | |',
    '| - | -: | -: | - |',
    ...targets(r).map((t) => `| ${t.what} | ${t.value} | ${t.target} | ${t.met ? 'met' : '**not met**'} |`),
    '',
  ];
  return lines.join('\n');
}

/** ADD+DEL against N: a line and min–max bars per implementation. */
export function svg(r: Results): string {
  const W = 640;
  const H = 400;
  const L = 64;
  const R = 20;
  const T = 40;
  const B = 56;
  const maxN = Math.max(...r.sizes.map((s) => s.n));
  const maxY = Math.max(...r.sizes.flatMap((s) => [s.both.manifold.max, s.both.reference.max]));
  const step = niceStep(maxY / 5);
  const top = Math.ceil(maxY / step) * step;
  const x = (n: number) => L + ((W - L - R) * n) / maxN;
  const y = (v: number) => H - B - ((H - T - B) * v) / top;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>ADD+DEL time of a pod on N networks: manifold and libcni with the reference plugins (${r.date})</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">ADD+DEL of a pod on N macvlan networks (median, min–max)</text>`,
  ];
  for (let v = 0; v <= top + 1e-9; v += step) {
    out.push(
      `<line x1="${L}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`,
    );
  }
  for (const s of r.sizes) {
    out.push(`<text x="${x(s.n).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${s.n}</text>`);
  }
  out.push(
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 16}" text-anchor="middle">networks per pod (N)</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">ms</text>`,
  );
  const series = [
    { key: 'reference', color: '#d95f02', label: 'libcni + reference macvlan/host-local (Go)' },
    { key: 'manifold', color: '#1b6ac9', label: 'manifold (one call each way)' },
  ] as const;
  series.forEach(({ key, color, label }, i) => {
    const pts = r.sizes.map((s) => `${x(s.n).toFixed(1)},${y(s.both[key].median).toFixed(1)}`);
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const s of r.sizes) {
      const st = s.both[key];
      const cx = x(s.n).toFixed(1);
      out.push(
        `<line x1="${cx}" y1="${y(st.min).toFixed(1)}" x2="${cx}" y2="${y(st.max).toFixed(1)}" stroke="${color}"/>`,
        `<line x1="${x(s.n) - 4}" y1="${y(st.min).toFixed(1)}" x2="${x(s.n) + 4}" y2="${y(st.min).toFixed(1)}" stroke="${color}"/>`,
        `<line x1="${x(s.n) - 4}" y1="${y(st.max).toFixed(1)}" x2="${x(s.n) + 4}" y2="${y(st.max).toFixed(1)}" stroke="${color}"/>`,
        `<circle cx="${cx}" cy="${y(st.median).toFixed(1)}" r="3.5" fill="${color}"/>`,
      );
    }
    const ly = T + 8 + i * 18;
    out.push(
      `<rect x="${L + 12}" y="${ly - 6}" width="14" height="4" fill="${color}"/>`,
      `<text x="${L + 32}" y="${ly}">${label}</text>`,
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
