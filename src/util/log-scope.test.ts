import { describe, expect, it } from 'vitest';
import { inCall } from './call.ts';
import { configureLog, log, pushLogContext } from './log.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

/** One call as the skel runs it: its own log settings and context, lines written across awaits. */
async function call(id: string, lines: string[]): Promise<void> {
  await inCall(async () => {
    configureLog({ logToStderr: true, logLevel: 'info' }, (s) => lines.push(s), `plugin-${id}`);
    const pop = pushLogContext({ verb: 'ADD', containerId: id });
    for (let i = 0; i < 3; i++) {
      log.info(`step ${i}`);
      await tick();
    }
    pop();
  });
}

describe('log state is the call’s own', () => {
  it('two overlapping calls write only to their own outputs, with their own container id and plugin', async () => {
    const a: string[] = [];
    const b: string[] = [];
    await Promise.all([call('ca', a), call('cb', b)]);
    const parsed = (xs: string[]) => xs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed(a).map((l) => [l.plugin, l.containerId, l.msg])).toEqual([
      ['plugin-ca', 'ca', 'step 0'],
      ['plugin-ca', 'ca', 'step 1'],
      ['plugin-ca', 'ca', 'step 2'],
    ]);
    expect(parsed(b).map((l) => [l.plugin, l.containerId, l.msg])).toEqual([
      ['plugin-cb', 'cb', 'step 0'],
      ['plugin-cb', 'cb', 'step 1'],
      ['plugin-cb', 'cb', 'step 2'],
    ]);
  });

  it('leaves the process’s own log (outside a call) untouched', async () => {
    const lines: string[] = [];
    await call('cc', lines);
    expect(log.enabled('info')).toBe(false);
  });
});
