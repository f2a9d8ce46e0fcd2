/**
 * What the API client says when it gives up must be true: the time it actually spent (from the
 * first attempt's start), the attempts, and the budget, as separate numbers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Budget, KubeClient } from './client.ts';
import { UnreachableError } from './errors.ts';

let busy: Server;
/** When each request reached the 503 server. */
const arrivals: number[] = [];
let busyUrl = '';
let slow: Server;
let slowUrl = '';
let refusedUrl = '';

beforeAll(async () => {
  busy = createServer((_req, res) => {
    arrivals.push(performance.now());
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', reason: 'ServiceUnavailable', message: 'etcd is busy' }));
  });
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyUrl = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
  slow = createServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', reason: 'ServiceUnavailable', message: 'etcd is slow' }));
    }, 20);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  refusedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((r) => closed.close(() => r()));
});
afterAll(async () => {
  await new Promise<void>((r) => busy.close(() => r()));
  await new Promise<void>((r) => slow.close(() => r()));
});

const PATH = '/api/v1/namespaces/default/pods/p';
const MESSAGE =
  /did not answer GET \/api\/v1\/namespaces\/default\/pods\/p in (\d+\.\d) s \((\d+) attempts?, budget (\d+\.\d) s\)/;

async function giveUp(server: string, budgetMs: number): Promise<{ err: UnreachableError; seconds: number }> {
  const c = new KubeClient(
    () => ({ server, insecureSkipTlsVerify: false, source: 'test' }),
    new Budget(budgetMs),
  );
  const started = performance.now();
  try {
    await c.request('GET', PATH);
  } catch (err) {
    const seconds = (performance.now() - started) / 1000;
    c.close();
    expect(err).toBeInstanceOf(UnreachableError);
    return { err: err as UnreachableError, seconds };
  }
  throw new Error('expected a rejection');
}

function says(err: UnreachableError): { seconds: number; attempts: number; budget: number } {
  const m = MESSAGE.exec(err.message);
  expect(err.message).toMatch(MESSAGE);
  return { seconds: Number(m?.[1]), attempts: Number(m?.[2]), budget: Number(m?.[3]) };
}

describe('the give-up message says the time spent, not the budget', () => {
  it('503 on every attempt: the attempts run out long before a 10 s budget', async () => {
    const { err, seconds } = await giveUp(busyUrl, 10_000);
    const s = says(err);
    expect(s.attempts).toBe(6);
    expect(err.attempts).toBe(6);
    expect(s.budget).toBe(10);
    expect(Math.abs(s.seconds - seconds)).toBeLessThanOrEqual(0.15);
    expect(err.message).toMatch(/etcd is busy/);
  });

  it('no backoff sleep after the last attempt: the error comes as soon as it failed', async () => {
    arrivals.length = 0;
    await giveUp(busyUrl, 10_000);
    const gaveUp = performance.now();
    expect(arrivals).toHaveLength(6);
    // before: the 1 s backoff was slept after the sixth attempt too, for nothing
    expect(gaveUp - (arrivals.at(-1) ?? 0)).toBeLessThan(500);
  });

  it('connection refused on every attempt: the same', async () => {
    const { err, seconds } = await giveUp(refusedUrl, 10_000);
    const s = says(err);
    expect(s.attempts).toBe(6);
    expect(Math.abs(s.seconds - seconds)).toBeLessThanOrEqual(0.15);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a budget that runs out first: the time spent is about the budget', async () => {
    const { err, seconds } = await giveUp(refusedUrl, 500);
    const s = says(err);
    expect(s.budget).toBe(0.5);
    expect(s.attempts).toBeLessThan(6);
    expect(Math.abs(s.seconds - seconds)).toBeLessThanOrEqual(0.15);
  });

  it('the last attempt is a real one, not a sliver of the budget that can only time out', async () => {
    // 503 after 20 ms: a last attempt squeezed into the budget's last milliseconds timed out
    // ("no answer within 0.3 ms") and that was the error reported
    const { err } = await giveUp(slowUrl, 500);
    // the server's answer; on a loaded machine a 20 ms answer may still miss a real attempt's
    // 100 ms or more, but never a sliver of the budget's last milliseconds
    expect(err.message).not.toMatch(/no answer within \d{1,2}(\.\d+)? ms/);
    if (!/no answer within/.test(err.message)) expect(err.message).toMatch(/: etcd is slow$/);
  });

  it('no time left before the first attempt: says so, no attempt', async () => {
    const { err } = await giveUp(busyUrl, 0);
    expect(err.attempts).toBe(0);
    expect(err.message).toMatch(
      /GET \/api\/v1\/namespaces\/default\/pods\/p: no time left of the 0\.0 s budget \(0 attempts\)/,
    );
  });
});

describe('errors that another attempt cannot cure are code 7 at once, not 11 after the retries', () => {
  it.each([
    ['a server that is not a URL', { server: 'not a url' }, /Invalid URL/],
    [
      'a client key that is not a key',
      { server: 'https://127.0.0.1:1', cert: Buffer.from('x'), key: Buffer.from('x') },
      /./,
    ],
  ])('%s', async (_what, t, msg) => {
    let asked = 0;
    const c = new KubeClient(() => {
      asked++;
      return { ...t, insecureSkipTlsVerify: false, source: 'kubeconfig "k"' };
    }, new Budget(10_000));
    const e = await c.request('GET', PATH).catch((err: unknown) => err);
    c.close();
    expect(e).toMatchObject({ name: 'CniError', code: 7 });
    expect((e as Error).message).toMatch(/^kubeconfig "k": cannot talk to /);
    expect((e as Error).message).toMatch(msg);
    expect(asked).toBe(1);
  });
});
