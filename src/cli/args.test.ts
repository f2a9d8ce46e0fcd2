/**
 * Whatever the arguments, the command line answers with an exit status and at most a few
 * lines: 0, 1 (the command failed: one line on stderr) or 2 (a wrong command, flag or
 * argument: one line and the usage) — never a stack trace, never an exception out of runCli.
 * fast-check builds argument lists from the real commands and flags and from hostile words;
 * every path points into an empty scratch directory, so nothing real is touched.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cli } from '../../test/helpers/cli.ts';
import { COMMANDS } from './cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'mf-args-'));

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
  fc.constantFrom(...Object.keys(COMMANDS), 'help', ...flags),
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
