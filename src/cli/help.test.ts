/**
 * Every command has --help with examples, and the examples run: validate, explain and inspect
 * here (read only, no root); install and uninstall on a fake node (their /opt/cni/bin and
 * /etc/cni/net.d made temp dirs); add, check, del, gc and status as root with the built
 * executable in test/e2e/cli.test.ts.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../test/helpers/cli.ts';
import { COMMAND_NAMES, examplesOf } from '../../test/helpers/examples.ts';

const E2E = ['add', 'check', 'del', 'gc', 'status'];

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
  const local = COMMAND_NAMES.filter((c) => !E2E.includes(c) && c !== 'install' && c !== 'uninstall');
  it.each(local.map((c) => [c]))('%s', async (c) => {
    for (const ex of await examplesOf(c)) {
      expect(ex.program).toBe('manifold');
      const r = await cli(ex.args, { env: ex.env });
      expect(r.code, `${ex.line}\n${r.out}${r.err}`).toBe(0);
    }
  });

  it('install and uninstall, on a fake node', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mf-help-node-'));
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
