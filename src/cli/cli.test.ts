/**
 * The command line (cli.ts): the table's usage and one-line errors; every command's --help
 * with examples, and the examples run — validate, explain and inspect here (read only, no
 * root), install and uninstall on a fake node (their /opt/cni/bin and /etc/cni/net.d made temp
 * dirs), add, check, del, gc and status as root with the built executable in
 * test/e2e/cli.test.ts; and, whatever the arguments, an exit status and at most a few lines:
 * 0, 1 (the command failed: one line on stderr) or 2 (a wrong command, flag or argument: one
 * line and the usage) — never a stack trace, never an exception out of runCli. fast-check
 * builds argument lists from the real commands and flags and from hostile words; every path
 * points into an empty scratch directory, so nothing real is touched.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cli } from '../../test/helpers/cli.ts';
import { COMMAND_NAMES, examplesOf } from '../../test/helpers/examples.ts';
import { scratchDir } from '../../test/helpers/scratch.ts';
import { COMMANDS } from './cli.ts';

const run = (...args: string[]) => cli(args);

describe('command table', () => {
  it('--help lists the commands', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/usage: manifold <command>/);
    expect(r.out).toMatch(/install +copy manifold/);
    expect(r.out).toMatch(/uninstall +remove manifold's network config/);
    expect((await run('--version')).out).toBe('manifold 9.9.9\n');
  });

  it.each([
    [
      ['frobnicate'],
      2,
      /^manifold: unknown command "frobnicate"\n\nmanifold 9\.9\.9: [^\n]+\n\nusage: manifold <command>/,
    ],
    [['--frob'], 2, /^manifold: unknown flag "--frob"/],
    [
      ['install', '--bin-dir', '/x'],
      2,
      /^manifold install: --conf-dir is required\nusage: manifold install --bin-dir DIR/,
    ],
    [
      ['install', '--bin-dir', '/x', '--conf-dir', '/y', '--colour'],
      2,
      /^manifold install: unknown flag --colour\n/,
    ],
    [['install', '--bin-dir'], 2, /--bin-dir needs a value/],
    [['uninstall', 'stray'], 2, /unexpected argument "stray"/],
    [
      ['install', '--bin-dir', '/nonexistent/bin', '--conf-dir', '/nonexistent/conf'],
      1,
      /^manifold install: [^\n]+\n$/,
    ],
  ])('%j: exit %i, one line', async (args, code, msg) => {
    const r = await run(...args);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(msg);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

/** Their examples run as root in another tier (daemon: test/integration/daemon-process.test.ts, it serves until SIGTERM). */
const E2E = ['add', 'check', 'del', 'gc', 'status', 'daemon'];

describe('--help', () => {
  it.each(COMMAND_NAMES.map((c) => [c]))('%s --help: usage, flags, examples', async (c) => {
    const r = await cli([c, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^usage: manifold ${c} `));
    expect((await examplesOf(c)).length).toBeGreaterThan(0);
    expect(await cli(['help', c])).toEqual(r);
  });

  it('the top-level usage lists every command', async () => {
    const r = await cli(['--help']);
    for (const c of COMMAND_NAMES) expect(r.out).toMatch(new RegExp(`^ {2}${c} +\\S`, 'm'));
  });
});

describe('the examples run', () => {
  // attach and detach act on a pod through an API server and a daemon: test/integration/hotplug.test.ts runs them
  const local = COMMAND_NAMES.filter(
    (c) => !E2E.includes(c) && !['install', 'uninstall', 'attach', 'detach'].includes(c),
  );
  it.each(local.map((c) => [c]))('%s', async (c) => {
    for (const ex of await examplesOf(c)) {
      expect(ex.program).toBe('manifold');
      const r = await cli(ex.args, { env: ex.env });
      expect(r.code, `${ex.line}\n${r.out}${r.err}`).toBe(0);
    }
  });

  it('install and uninstall, on a fake node', async () => {
    const root = scratchDir('mf-help-node-');
    const bin = join(root, 'opt/cni/bin');
    const conf = join(root, 'etc/cni/net.d');
    mkdirSync(bin, { recursive: true });
    mkdirSync(conf, { recursive: true });
    writeFileSync(
      join(conf, '10-flannel.conflist'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'cbr0', plugins: [{ type: 'flannel' }] }),
    );
    const exe = join(root, 'manifold-build');
    writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
    for (const c of ['install', 'uninstall']) {
      for (const ex of await examplesOf(c)) {
        const args = ex.args.map((a) =>
          a.replace(/^\/opt\/cni\/bin/, bin).replace(/^\/etc\/cni\/net\.d/, conf),
        );
        const r = await cli(args, { execPath: exe });
        expect(r.code, `${ex.line}\n${r.err}`).toBe(0);
      }
    }
  });

  it('every command with examples is run by some tier', async () => {
    for (const c of E2E) expect((await examplesOf(c)).some((e) => e.program === 'manifold')).toBe(true);
  });
});

const scratch = scratchDir('mf-args-');

const flags = [
  '--help',
  '-h',
  '--version',
  '--json',
  '--ifname',
  '--netns',
  '--container-id',
  '--conf-dir',
  '--cni-dir',
  '--cache-dir',
  '--bin-dir',
  '--kubeconfig',
  '--log-format',
  '--log-level',
  '--',
  '-',
  '--=',
  '--ifname=',
  '--json=1',
  '--log-format=text',
  '--nope',
  '-x',
];
const words = fc.oneof(
  // daemon serves until SIGTERM, like install --watch: not in the alphabet
  fc.constantFrom(...Object.keys(COMMANDS).filter((c) => c !== 'daemon'), 'help', ...flags),
  fc.constantFrom(
    scratch,
    join(scratch, 'missing.conf'),
    'net',
    'eth0',
    '/run/netns/none',
    'json',
    'text',
    '',
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('x'.repeat(300), '\u0000', '\n', '{', '../..', '%s', '$(id)', 'a=b;c'),
);

describe('argument fuzzing', () => {
  it('exit 0, 1 or 2, a few lines, never a stack trace', async () => {
    const env = { NETCONFPATH: scratch, CNI_PATH: scratch };
    await fc.assert(
      fc.asyncProperty(fc.array(words, { maxLength: 6 }), async (args) => {
        // --watch would stay in the foreground: not in the alphabet; install writes only under scratch
        const safe = args.map((a) =>
          a.startsWith('/') && !a.startsWith(scratch) && a !== '/run/netns/none' ? scratch : a,
        );
        const r = await cli(safe, { env, cwd: scratch, execPath: join(scratch, 'manifold') });
        expect([0, 1, 2]).toContain(r.code);
        expect(r.err).not.toMatch(/\n\s+at /);
        expect(r.out + r.err).not.toMatch(/\bat .*\.ts:\d+:\d+/);
        if (r.code === 1 && !r.out) expect(r.err.trimEnd().split('\n')).toHaveLength(1);
        if (r.code === 2) expect(r.err).toMatch(/^manifold[^\n]*: [^\n]+\n/);
      }),
      { numRuns: 400 },
    );
  });
});
