/**
 * What the bench prints and writes: the table of the three columns (manifold one-shot,
 * manifold in daemon mode through its shim, the reference) with the issues' targets (text for
 * the terminal, Markdown for bench/results.md) and a hand-rolled SVG chart of ADD+DEL time
 * against the number of networks, every column, medians with min–max bars. Both files are
 * generated (biome leaves them alone). The daemon column is absent when the build measured
 * has no daemon mode (`--manifold` of an older build, `--no-daemon`).
 */
import type { Stats } from './stats.ts';

/** One figure per implementation: one-shot, daemon mode (when measured), the reference. */
export interface Cols {
  readonly manifold: Stats;
  readonly daemon?: Stats;
  readonly reference: Stats;
}

export interface Size {
  readonly n: number;
  readonly both: Cols;
  readonly add: Cols;
  readonly del: Cols;
}

interface MiB {
  readonly rssMiB: number;
  readonly hwmMiB: number;
}

/** Daemon mode's own figures (bench/run.ts `daemonPart`). */
export interface DaemonResults {
  /** VERSION through the shim, exec to exit (daemon up). */
  readonly version: Stats;
  /** The daemon's mean handling time of those VERSIONs (its metrics: arrival to answer), ms. */
  readonly handledVersionMs: number;
  /** The unconfigured shim (dist/shim/manifold-shim), exec to exit: its start, no socket. */
  readonly bareShim?: Stats;
  /** STATUS of a 1.1.0 meta config through the shim (daemon up), and the daemon's mean handling. */
  readonly status: Stats;
  readonly handledStatusMs: number;
  /** One-shot STATUS of the same config, interleaved with the above. */
  readonly oneshotStatus: Stats;
  /** STATUS through the shim with the daemon down (one-shot fallback), and one-shot interleaved. */
  readonly statusDown: Stats;
  readonly oneshotStatusDown: Stats;
  /** Lines the shim added to fallbacks.log while the daemon was up (0, or figures were one-shot) and down. */
  readonly fallbacks: { readonly up: number; readonly down: number; readonly downCalls: number };
  /** /proc/<pid>/status after the warm-up, after the measured rounds, after the soak. */
  readonly rss: { readonly start: MiB; readonly run: MiB; readonly end: MiB };
  /** VmRSS after the run, then after each quarter of the churn of `pods` pods. */
  readonly soak: { readonly pods: number; readonly networks: number; readonly rssMiB: readonly number[] };
}

export interface Results {
  readonly date: string;
  readonly load: readonly [string, string];
  readonly cpus: number;
  readonly rounds: number;
  readonly sizes: readonly Size[];
  /** ms per extra attachment, ADD+DEL (slope of the medians over N). */
  readonly marginal: { readonly manifold: number; readonly daemon?: number; readonly reference: number };
  readonly version: { readonly manifold: Stats; readonly node: Stats; readonly reference: Stats };
  /** Peak RSS of one one-shot ADD of 8 attachments, MiB (median of the runs). */
  readonly rssMiB: { readonly manifold: number; readonly reference: number };
  readonly concurrent: { readonly pods: number; readonly networks: number } & Cols;
  readonly daemon?: DaemonResults;
}

interface Target {
  readonly what: string;
  readonly value: string;
  readonly target: string;
  readonly met: boolean;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const ms2 = (x: number) => `${x.toFixed(2)} ms`;
const range = (s: Stats) => `${s.min.toFixed(1)}–${s.max.toFixed(1)}`;
const x2 = (r: number) => `${r.toFixed(2)}×`;
const mib = (x: number) => `${x.toFixed(1)} MiB`;
/** One-shot's targets (the bench's first issue) and daemon mode's (issue 21). */
const RATIO_TARGET: Readonly<Record<number, number>> = { 1: 1.5, 4: 0.5, 8: 0.3, 16: 0.2 };
const DAEMON_RATIO_TARGET: Readonly<Record<number, number>> = { 1: 0.7, 4: 0.25, 16: 0.12 };
/** "Flat" over the soak: VmRSS grows by at most this much from its first sample to its last. */
const FLAT_MIB = 5;

/** The shim's overhead: VERSION through it, exec to exit, less the daemon's own handling of it. */
export const shimOverhead = (d: DaemonResults) => d.version.median - d.handledVersionMs;

export function targets(r: Results): Target[] {
  const out: Target[] = [];
  for (const s of r.sizes) {
    const goal = RATIO_TARGET[s.n];
    if (goal === undefined) continue;
    const ratio = s.both.manifold.median / s.both.reference.median;
    out.push({
      what: `one-shot: ADD+DEL ratio, N=${s.n}`,
      value: x2(ratio),
      target: `≤ ${goal}×`,
      met: ratio <= goal,
    });
  }
  out.push({
    what: 'one-shot: marginal cost per attachment',
    value: ms(r.marginal.manifold),
    target: '≤ 3 ms',
    met: r.marginal.manifold <= 3,
  });
  const one = r.sizes.find((s) => s.n === 1);
  if (one) {
    const limit = r.version.manifold.median + 10;
    out.push({
      what: 'one-shot: 1-attachment ADD vs VERSION + 10 ms',
      value: ms(one.add.manifold.median),
      target: `≤ ${ms(limit)}`,
      met: one.add.manifold.median <= limit,
    });
  }
  const vr = r.version.manifold.median / r.version.node.median;
  out.push({ what: 'one-shot: VERSION vs node -e 0', value: x2(vr), target: '≤ 1.1×', met: vr <= 1.1 });
  out.push({
    what: 'one-shot: peak RSS, 8-attachment ADD',
    value: mib(r.rssMiB.manifold),
    target: '≤ 80 MiB',
    met: r.rssMiB.manifold <= 80,
  });
  const c = r.concurrent.manifold;
  out.push({
    what: `one-shot: ${r.concurrent.pods} concurrent ADDs, p99 / p50`,
    value: `${x2(c.p99 / c.median)} (p50 ${ms(c.median)}, p99 ${ms(c.p99)})`,
    target: '≤ 2×',
    met: c.p99 <= 2 * c.median,
  });
  return [...out, ...daemonTargets(r)];
}

/** Issue 21's targets for daemon mode. */
function daemonTargets(r: Results): Target[] {
  const d = r.daemon;
  if (!d) return [];
  const out: Target[] = [];
  for (const s of r.sizes) {
    const goal = DAEMON_RATIO_TARGET[s.n];
    if (goal === undefined || !s.both.daemon) continue;
    const ratio = s.both.daemon.median / s.both.reference.median;
    out.push({
      what: `daemon: ADD+DEL ratio, N=${s.n}`,
      value: x2(ratio),
      target: `≤ ${goal}×`,
      met: ratio <= goal,
    });
  }
  const m = r.marginal.daemon ?? Number.NaN;
  out.push({ what: 'daemon: marginal cost per attachment', value: ms(m), target: '≤ 2 ms', met: m <= 2 });
  const o = shimOverhead(d);
  out.push({
    what: 'daemon: shim overhead, p50 (VERSION)',
    value: `${ms2(o)} (${ms2(d.version.median)} − ${ms2(d.handledVersionMs)})`,
    target: '≤ 1 ms',
    met: o <= 1,
  });
  const cd = r.concurrent.daemon;
  if (cd) {
    const q = cd.median / r.concurrent.reference.median;
    out.push({
      what: `daemon: ${r.concurrent.pods} concurrent ADDs, p50 vs reference`,
      value: `${x2(q)} (p50 ${ms(cd.median)}, p99 ${ms(cd.p99)})`,
      target: '≤ 0.5×',
      met: q <= 0.5,
    });
  }
  const soak = d.soak.rssMiB;
  const growth = (soak[soak.length - 1] ?? Number.NaN) - (soak[0] ?? Number.NaN);
  out.push({
    what: `daemon: RSS after ${d.soak.pods} pods × ${d.soak.networks}, growth over them`,
    value: `${mib(d.rss.end.rssMiB)} (peak ${mib(d.rss.end.hwmMiB)}), ${growth >= 0 ? '+' : ''}${mib(growth)}`,
    target: `≤ 100 MiB, ≤ +${FLAT_MIB} MiB`,
    met: d.rss.end.rssMiB <= 100 && growth <= FLAT_MIB,
  });
  out.push({
    what: 'daemon: STATUS with the daemon down, p50',
    value: `${ms(d.statusDown.median)} (p99 ${ms(d.statusDown.p99)})`,
    target: '≤ 100 ms',
    met: d.statusDown.median <= 100,
  });
  return out;
}

function header(r: Results): string {
  return `${r.date}, ${r.cpus} CPUs, load average ${r.load[0]} at the start and ${r.load[1]} at the end; ${r.rounds} interleaved rounds`;
}

const ratio = (a: Stats | undefined, b: Stats) => (a ? x2(a.median / b.median) : '—');

/** Daemon mode's own lines (text and Markdown alike). */
function daemonLines(d: DaemonResults): string[] {
  const warn =
    d.fallbacks.up > 0
      ? [
          `WARNING: ${d.fallbacks.up} call(s) fell back to one-shot while the daemon was up (fallbacks.log): daemon figures include them`,
        ]
      : [];
  return [
    ...warn,
    `shim overhead: VERSION through the shim ${ms2(d.version.median)} p50 (${range(d.version)}), the daemon's own handling ${ms2(d.handledVersionMs)} (mean, its metrics) → ${ms2(shimOverhead(d))}${d.bareShim ? `, of which the exec of a static program (the unconfigured shim, no socket: ${ms2(d.bareShim.median)} p50) and the rest the exchange (${ms2(shimOverhead(d) - d.bareShim.median)})` : ''}`,
    `STATUS (1.1.0 meta config, one delegate): through the shim ${ms(d.status.median)} p50 (${range(d.status)}; the daemon's handling ${ms2(d.handledStatusMs)}), one-shot ${ms(d.oneshotStatus.median)} (${range(d.oneshotStatus)})`,
    `STATUS with the daemon down (stopped, its socket refused; the shim runs one-shot): ${ms(d.statusDown.median)} p50, p99 ${ms(d.statusDown.p99)} (${range(d.statusDown)}); one-shot itself ${ms(d.oneshotStatusDown.median)}; fallbacks.log: ${d.fallbacks.down} lines for ${d.fallbacks.downCalls} measured calls (+ warm-up), ${d.fallbacks.up} while up`,
    `daemon RSS (VmRSS / VmHWM): after the warm-up ${mib(d.rss.start.rssMiB)} / ${mib(d.rss.start.hwmMiB)}, after the rounds ${mib(d.rss.run.rssMiB)} / ${mib(d.rss.run.hwmMiB)}, after ${d.soak.pods} more pods × ${d.soak.networks} networks ${mib(d.rss.end.rssMiB)} / ${mib(d.rss.end.hwmMiB)} (VmRSS every ${d.soak.pods / (d.soak.rssMiB.length - 1)} pods: ${d.soak.rssMiB.map((x) => x.toFixed(1)).join(', ')})`,
  ];
}

export function text(r: Results): string {
  const pad = (s: string, w: number) => s.padEnd(w);
  const lines = [`manifold bench — ${header(r)}`, ''];
  const cell = (s: Stats | undefined) => pad(s ? `${ms(s.median)} (${range(s)})` : '—', 24);
  const dm = r.daemon !== undefined;
  const row = (label: string, p: Cols) =>
    `  ${pad(label, 20)} ${cell(p.manifold)} ${dm ? cell(p.daemon) : ''}${cell(p.reference)} ${pad(ratio(p.manifold, p.reference), 7)} ${dm ? ratio(p.daemon, p.reference) : ''}`;
  lines.push(
    `  ${pad('', 20)} ${pad('one-shot (1 call/way)', 24)} ${dm ? pad('daemon (shim)', 24) : ''}${pad('libcni + reference', 24)} ${dm ? 'ratios: one-shot, daemon' : 'ratio'}`,
  );
  for (const s of r.sizes) {
    lines.push(row(`ADD+DEL, ${s.n} net${s.n > 1 ? 's' : ''}`, s.both));
    lines.push(row('  ADD', s.add));
    lines.push(row('  DEL', s.del));
  }
  const c = r.concurrent;
  lines.push(
    '',
    `  marginal per attachment: one-shot ${ms(r.marginal.manifold)}${r.marginal.daemon === undefined ? '' : `, daemon ${ms(r.marginal.daemon)}`}, reference ${ms(r.marginal.reference)}`,
    `  VERSION: one-shot ${ms(r.version.manifold.median)}, node -e 0 ${ms(r.version.node.median)}, reference (Go) ${ms(r.version.reference.median)}`,
    `  peak RSS of an 8-network ADD: one-shot ${mib(r.rssMiB.manifold)}, reference (largest plugin process) ${mib(r.rssMiB.reference)}`,
    `  ${c.pods} concurrent ADDs of ${c.networks} networks: one-shot p50 ${ms(c.manifold.median)} p99 ${ms(c.manifold.p99)}${c.daemon ? `; daemon p50 ${ms(c.daemon.median)} p99 ${ms(c.daemon.p99)}` : ''}; reference p50 ${ms(c.reference.median)} p99 ${ms(c.reference.p99)}`,
    ...(r.daemon ? daemonLines(r.daemon).map((l) => `  ${l}`) : []),
    '',
    '  targets:',
    ...targets(r).map(
      (t) => `    ${t.met ? 'met    ' : 'NOT MET'} ${pad(t.what, 52)} ${pad(t.value, 40)} ${t.target}`,
    ),
  );
  return `${lines.join('\n')}\n`;
}

export function markdown(r: Results): string {
  const cell = (s: Stats | undefined) => (s ? `${s.median.toFixed(1)} (${range(s)})` : '—');
  const dm = r.daemon !== undefined;
  const c = r.concurrent;
  const three = (a: string, b: string | undefined, ref: string) => (dm ? [a, b ?? '—', ref] : [a, ref]);
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (see [README.md](README.md) for what is measured). ${header(r)}.`,
    'Milliseconds: median (min–max). one-shot: one meta-plugin call each way, a manifold process',
    `each, driven by libcni;${dm ? " daemon: the same calls through daemon mode's shim (`install --mode daemon`) to one `manifold daemon`;" : ''}`,
    "reference: libcni driving Debian's macvlan + host-local once per network, from one process.",
    '',
    '![ADD+DEL time against the number of networks](results.svg)',
    '',
    row([
      'networks',
      ...three('one-shot ADD+DEL', 'daemon ADD+DEL', 'reference ADD+DEL'),
      ...(dm ? ['one-shot ratio', 'daemon ratio'] : ['ratio']),
      ...three('one-shot ADD', 'daemon ADD', 'reference ADD'),
      ...three('one-shot DEL', 'daemon DEL', 'reference DEL'),
    ]),
    row(Array.from({ length: dm ? 12 : 8 }, () => '-:')),
    ...r.sizes.map((s) =>
      row([
        String(s.n),
        ...three(cell(s.both.manifold), cell(s.both.daemon), cell(s.both.reference)),
        ratio(s.both.manifold, s.both.reference),
        ...(dm ? [ratio(s.both.daemon, s.both.reference)] : []),
        ...three(cell(s.add.manifold), cell(s.add.daemon), cell(s.add.reference)),
        ...three(cell(s.del.manifold), cell(s.del.daemon), cell(s.del.reference)),
      ]),
    ),
    '',
    row(['', ...three('one-shot', 'daemon', 'reference')]),
    row(['-', ...three('-:', '-:', '-:')]),
    row([
      'marginal cost per attachment, ADD+DEL',
      ...three(
        ms(r.marginal.manifold),
        r.marginal.daemon === undefined ? undefined : ms(r.marginal.daemon),
        ms(r.marginal.reference),
      ),
    ]),
    row([
      `VERSION (\`node -e 0\`: ${cell(r.version.node)})`,
      ...three(
        cell(r.version.manifold),
        r.daemon ? `${cell(r.daemon.version)} (through the shim)` : undefined,
        cell(r.version.reference),
      ),
    ]),
    row([
      'peak RSS, ADD of 8 networks',
      ...three(
        mib(r.rssMiB.manifold),
        r.daemon
          ? `the daemon: ${mib(r.daemon.rss.end.rssMiB)} after the run, peak ${mib(r.daemon.rss.end.hwmMiB)}`
          : undefined,
        `${mib(r.rssMiB.reference)} (largest plugin process)`,
      ),
    ]),
    row([
      `${c.pods} concurrent ADDs of ${c.networks} networks, p50 / p99`,
      ...three(
        `${ms(c.manifold.median)} / ${ms(c.manifold.p99)}`,
        c.daemon ? `${ms(c.daemon.median)} / ${ms(c.daemon.p99)}` : undefined,
        `${ms(c.reference.median)} / ${ms(c.reference.p99)}`,
      ),
    ]),
    '',
    ...(r.daemon ? [...daemonLines(r.daemon).map((l) => `- ${l}`), ''] : []),
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
  const maxY = Math.max(
    ...r.sizes.flatMap((s) => [s.both.manifold.max, s.both.daemon?.max ?? 0, s.both.reference.max]),
  );
  const step = niceStep(maxY / 5);
  const top = Math.ceil(maxY / step) * step;
  const x = (n: number) => L + ((W - L - R) * n) / maxN;
  const y = (v: number) => H - B - ((H - T - B) * v) / top;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>ADD+DEL time of a pod on N networks: manifold one-shot${r.daemon ? ', manifold daemon mode' : ''} and libcni with the reference plugins (${r.date})</title>`,
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
    { key: 'manifold', color: '#1b6ac9', label: 'manifold one-shot (one call each way)' },
    { key: 'daemon', color: '#1b9e77', label: 'manifold daemon mode (the same calls through the shim)' },
  ] as const;
  series
    .filter(({ key }) => r.sizes.every((s) => s.both[key]))
    .forEach(({ key, color, label }, i) => {
      const pts = r.sizes.map((s) => `${x(s.n).toFixed(1)},${y((s.both[key] as Stats).median).toFixed(1)}`);
      out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
      for (const s of r.sizes) {
        const st = s.both[key] as Stats;
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
