/**
 * The structured log: one JSON line per event with the call's context and the event's fields,
 * the text form for people, step timers (a shared no-op that reads no clock when logging is
 * off), the command line's override, and redaction on every line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { scratchDir } from '../../test/helpers/scratch.ts';
import { configureLog, log, overrideLog, pushLogContext } from './log.ts';

const off = () => configureLog({}, () => undefined);
afterEach(off);

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('log', () => {
  it('writes one JSON line per event with the context and the fields', () => {
    const file = join(scratchDir('mf-log-'), 'm.log');
    configureLog({ logFile: file, logLevel: 'verbose' }, () => undefined, 'manifold');
    const pop = pushLogContext({ verb: 'ADD', containerId: 'c1', ifname: 'eth0' });
    const popDelegate = pushLogContext({ delegate: 'mv (macvlan)', ifname: 'net1' });
    log.step('link create', 'macvlan on master "em0"')({ extra: 1 });
    popDelegate();
    log.info('attached');
    pop();
    log.debug('not at this level');
    const [step, info, ...rest] = lines(file);
    expect(rest).toEqual([]);
    expect(step).toMatchObject({
      level: 'verbose',
      plugin: 'manifold',
      verb: 'ADD',
      containerId: 'c1',
      ifname: 'net1',
      delegate: 'mv (macvlan)',
      msg: 'link create: macvlan on master "em0"',
      step: 'link create',
      extra: 1,
    });
    expect(typeof step?.ms).toBe('number');
    expect(step?.ts).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(info).toMatchObject({
      level: 'info',
      verb: 'ADD',
      containerId: 'c1',
      ifname: 'eth0',
      msg: 'attached',
    });
    expect(info?.delegate).toBeUndefined();
  });

  it('text for people', () => {
    let out = '';
    configureLog({ logToStderr: true, logLevel: 'info', logFormat: 'text' }, (s) => (out += s), 'manifold');
    const pop = pushLogContext({ verb: 'DEL', containerId: 'c2', ifname: 'eth0' });
    log.info('done', { ms: 3.5, note: 'two words' });
    pop();
    expect(out).toMatch(/^\S+Z \[info\] manifold\[\d+\] DEL c2\/eth0: done {2}ms=3\.5 note="two words"\n$/);
  });

  it('off: step is one shared no-op and reads no clock; nothing is written', () => {
    off();
    const now = vi.spyOn(performance, 'now');
    const a = log.step('netns open', '/run/netns/x');
    const b = log.step('routes');
    expect(a).toBe(b);
    a();
    expect(now).not.toHaveBeenCalled();
    now.mockRestore();
    expect(log.enabled('error')).toBe(false);
    expect(pushLogContext({ verb: 'ADD' })).toBe(pushLogContext({ verb: 'DEL' }));
  });

  it('redacts every line, message and fields', () => {
    let out = '';
    configureLog({ logToStderr: true, logLevel: 'debug' }, (s) => (out += s));
    const pop = pushLogContext({ containerId: 'c3' });
    log.debug('CNI_ARGS "K8S_POD_NAME=a;MY_TOKEN=tok-123456"', { args: 'PASSWORD=pw-654321' });
    pop();
    expect(out).not.toMatch(/tok-123456|pw-654321/);
    expect(JSON.parse(out)).toMatchObject({ containerId: 'c3' });
  });

  it("the command line's --log-level/--log-format: stderr on its own terms, the config's logFile as it was", () => {
    const file = join(scratchDir('mf-log-'), 'o.log');
    let err = '';
    overrideLog('verbose', 'text', (s) => (err += s));
    configureLog({ logFile: file, logLevel: 'error' }, () => undefined, 'manifold');
    log.error('broken');
    log.step('routes', 'eth0')();
    expect(lines(file).map((l) => [l.level, l.msg])).toEqual([['error', 'broken']]);
    expect(err).toMatch(
      /\[error\] manifold\[\d+\]: broken\n.*\[verbose\] manifold\[\d+\]: routes: eth0 {2}step=routes ms=/s,
    );
  });
});
