/**
 * The built executable's daemon runs with the V8 flags of a long-lived process, not the
 * one-shot call's (src/sea/entry.cjs): `manifold daemon` replaces itself (execve, the same PID)
 * with a 1 MB young generation, where a CNI call keeps the executable's 16 MB one. The 16 MB
 * semi-spaces cost the daemon ~27 MiB of RSS after the soak (test/soak/daemon.soak.ts: 126.8 MiB
 * against 99.4 MiB). Read from the process itself: the PID spawned serves, and its command line
 * is the one execve gave it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BUILT, type DaemonProc, killHard, serving, spawnDaemon } from '../helpers/daemon-proc.ts';
import { scratchDir } from '../helpers/scratch.ts';

const tmp = scratchDir('mf-it-dv8-');
const daemons: DaemonProc[] = [];
afterAll(async () => {
  for (const d of daemons) await killHard(d);
});

it('`manifold daemon` (the built executable) re-executes itself, same PID, with a 1 MB young generation', async () => {
  const socket = join(tmp, 'run', 'manifold.sock');
  const d = spawnDaemon(socket, [], BUILT);
  daemons.push(d);
  await serving(socket, d);
  const argv = readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0');
  expect(argv.slice(1, 3)).toEqual([
    '--node-options=--min-semi-space-size=1 --max-semi-space-size=1',
    'daemon',
  ]);
});
