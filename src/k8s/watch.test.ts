/**
 * The watch protocol and the list+watch cache against the stand-in API server (its real
 * paths, TLS and token): lines split across chunks, malformed lines, a relist after 410 (as an
 * ERROR event and as an HTTP status), bookmarks moving the resourceVersion, DELETED, a stream
 * the server ends and one that breaks, and the sync state garbage collection relies on.
 */
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../test/helpers/fake-apiserver.ts';
import { makePki } from '../../test/helpers/pki.ts';
import { Informer } from './informer.ts';
import type { Target } from './target.ts';
import { LineSplitter, MAX_LINE_BYTES, parseWatchLine } from './watch.ts';

describe('the watch stream', () => {
  it('splits lines across chunks and drops empty ones', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('{"a":'))).toEqual([]);
    expect(s.push(Buffer.from('1}\n\n{"b":2}\n{"c"'))).toEqual(['{"a":1}', '{"b":2}']);
    expect(s.pending).toBe(4);
    expect(s.push(Buffer.from(':3}\n'))).toEqual(['{"c":3}']);
    expect(s.pending).toBe(0);
  });

  it('refuses a line longer than the limit', () => {
    const s = new LineSplitter();
    s.push(Buffer.alloc(MAX_LINE_BYTES, 0x61));
    expect(() => s.push(Buffer.from('a'))).toThrow(/longer than/);
  });

  it('parses events and names what is malformed', () => {
    const pod = { metadata: { name: 'p', namespace: 'd', resourceVersion: '7' } };
    expect(parseWatchLine(JSON.stringify({ type: 'ADDED', object: pod }))).toEqual({
      type: 'ADDED',
      object: pod,
    });
    expect(
      parseWatchLine(
        JSON.stringify({
          type: 'ERROR',
          object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' },
        }),
      ),
    ).toEqual({ type: 'ERROR', code: 410, reason: 'Expired', message: 'too old' });
    expect(parseWatchLine('{"type":"ADDED"')).toEqual({ malformed: expect.stringMatching(/^not JSON/) });
    expect(parseWatchLine('[1]')).toEqual({ malformed: 'not a JSON object' });
    expect(parseWatchLine('{"type":"ADDED"}')).toEqual({ malformed: 'event ADDED has no object' });
    expect(parseWatchLine(JSON.stringify({ type: 'RENAMED', object: pod }))).toEqual({
      malformed: 'unknown event type "RENAMED"',
    });
    expect(parseWatchLine(JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'p' } } }))).toEqual(
      {
        malformed: 'MODIFIED event without metadata.resourceVersion',
      },
    );
  });
});

const api = new FakeApiServer(makePki());
let target: Target;
const informers: Informer[] = [];
beforeAll(async () => {
  await api.start();
  api.tokens.add('w1');
  target = { server: api.url, ca: api.pki.ca, token: 'w1', insecureSkipTlsVerify: false, source: 'test' };
});
afterAll(async () => {
  for (const i of informers) await i.stop();
  await api.stop();
});

const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}`);
};

function podInformer(node: string, extra: { timeoutSeconds?: number; pageSize?: number } = {}): Informer {
  const lines: string[] = [];
  const i = new Informer({
    resource: 'pods',
    path: '/api/v1/pods',
    selector: { fieldSelector: `spec.nodeName=${node}` },
    source: () => target,
    trim: (o) => ({ metadata: o.metadata }),
    backoffMs: { first: 20, max: 100 },
    log: (l) => lines.push(l),
    ...extra,
  });
  informers.push(i);
  i.start();
  return i;
}

const annotations = (o: unknown) =>
  (o as { metadata: { annotations?: Record<string, string> } }).metadata.annotations;

describe('the list+watch cache', () => {
  it('lists in pages with the node selector, then follows ADDED, MODIFIED and DELETED', async () => {
    api.addPod({ namespace: 'a', name: 'mine-1', nodeName: 'n1' });
    api.addPod({ namespace: 'a', name: 'mine-2', nodeName: 'n1' });
    api.addPod({ namespace: 'a', name: 'mine-3', nodeName: 'n1' });
    api.addPod({ namespace: 'a', name: 'theirs', nodeName: 'n2' });
    const i = podInformer('n1', { pageSize: 2 });
    await i.whenSynced();
    expect(i.stats.objects).toBe(3);
    expect(i.get('a', 'theirs')).toBeUndefined();
    const lists = api.log.filter((r) => r.path.startsWith('/api/v1/pods?') && !r.path.includes('watch=1'));
    expect(lists.length).toBe(2); // two pages
    expect(lists[1]?.path).toMatch(/continue=2/);
    await until('the watch is up', () => i.stats.up);
    api.addPod({ namespace: 'a', name: 'mine-4', nodeName: 'n1', annotations: { x: '1' } });
    await until('ADDED', () => i.get('a', 'mine-4') !== undefined);
    api.addPod({ namespace: 'a', name: 'mine-4', nodeName: 'n1', annotations: { x: '2' } });
    await until('MODIFIED', () => annotations(i.get('a', 'mine-4'))?.x === '2');
    api.addPod({ namespace: 'a', name: 'theirs-2', nodeName: 'n2' });
    api.deletePod('a', 'mine-1');
    await until('DELETED', () => i.get('a', 'mine-1') === undefined);
    expect(i.goneAt('a', 'mine-1')).toEqual({ uid: 'uid-mine-1', at: expect.any(Number) });
    expect(i.get('a', 'theirs-2')).toBeUndefined();
    // a pod that leaves the node (the selector no longer matches) arrives as DELETED
    api.addPod({ namespace: 'a', name: 'mine-2', nodeName: 'n2' });
    await until('gone from the node', () => i.get('a', 'mine-2') === undefined);
    expect(i.stats.events).toMatchObject({ ADDED: 1, MODIFIED: 1, DELETED: 2 });
    expect(i.stats.lists).toBe(1);
  });

  it('resumes a watch the server ended from the last resourceVersion, bookmarks included: no relist', async () => {
    const i = podInformer('n3', { timeoutSeconds: 1 });
    await i.whenSynced();
    await until('the watch is up', () => i.stats.up);
    api.addPod({ namespace: 'b', name: 'other-node', nodeName: 'n9' });
    api.bookmark();
    await until('a bookmark', () => i.stats.events.BOOKMARK > 0);
    // the bookmark moved the resourceVersion past an event this watch never saw
    expect(Number(i.resourceVersion)).toBeGreaterThanOrEqual(
      Number(api.pods.get('b/other-node')?.metadata.resourceVersion),
    );
    const watches = () =>
      api.log.filter(
        (r) => r.path.includes('fieldSelector=spec.nodeName%3Dn3') && r.path.includes('watch=1'),
      );
    await until('a second watch after timeoutSeconds', () => watches().length >= 2);
    expect(watches()[1]?.path).toMatch(/resourceVersion=\d+/);
    api.addPod({ namespace: 'b', name: 'late', nodeName: 'n3' });
    await until('the event after the resume', () => i.get('b', 'late') !== undefined);
    expect(i.stats.lists).toBe(1);
    expect(i.synced).toBe(true);
  });

  it('lists again after 410 (ERROR event and HTTP 410) and after a broken connection, and is unsynced meanwhile', {
    timeout: 20_000,
  }, async () => {
    const i = podInformer('n4');
    await i.whenSynced();
    await until('the watch is up', () => i.stats.up);
    // a broken stream: resumed from the last resourceVersion (no relist), the gap replayed
    api.breakWatches();
    api.addPod({ namespace: 'c', name: 'during-break', nodeName: 'n4' });
    await until('the event of the gap', () => i.get('c', 'during-break') !== undefined);
    expect(i.stats.lists).toBe(1);
    // the history is compacted while the watch is broken: the resume gets an ERROR 410 and relists
    await api.stop();
    await until('down', () => !i.synced);
    api.addPod({ namespace: 'c', name: 'while-down', nodeName: 'n4' });
    api.deletePod('c', 'during-break');
    api.compact();
    await api.start(api.port);
    await until('relisted', () => i.stats.lists === 2 && i.synced).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(i.stats)} ${JSON.stringify(api.log.slice(-5))}`);
    });
    expect(i.get('c', 'while-down')).toBeDefined();
    expect(i.get('c', 'during-break')).toBeUndefined();
    expect(i.goneAt('c', 'during-break')).toBeDefined();
    expect(i.stats.events.ERROR).toBe(1);
    expect(i.stats.errors).toBeGreaterThan(0);
    // the same as an HTTP 410
    api.goneAsHttp = true;
    try {
      api.breakWatches();
      api.addPod({ namespace: 'c', name: 'elsewhere', nodeName: 'n8' }); // an event this watch does not get
      api.compact();
      api.addPod({ namespace: 'c', name: 'after-410', nodeName: 'n4' });
      await until('relisted again', () => i.stats.lists === 3 && i.synced);
      expect(i.get('c', 'after-410')).toBeDefined();
    } finally {
      api.goneAsHttp = false;
    }
  });

  it('a malformed line ends the stream; it is resumed, nothing applied from it', async () => {
    const i = podInformer('n5');
    await i.whenSynced();
    await until('the watch is up', () => i.stats.up);
    const errors = i.stats.errors;
    api.injectWatchLine('{"type":"MODIFIED","object":');
    await until('an error counted', () => i.stats.errors > errors);
    api.addPod({ namespace: 'd', name: 'after-bad-line', nodeName: 'n5' });
    await until('resumed', () => i.get('d', 'after-bad-line') !== undefined);
    expect(i.stats.lists).toBe(1);
  });
});

describe('stopping', () => {
  it('stop() cuts a list that gets no answer (a black-holed API server) instead of waiting for its timeout', async () => {
    const held: Socket[] = [];
    const hole = createServer((s) => held.push(s)); // accepts, never answers (no TLS handshake)
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    try {
      const i = new Informer({
        resource: 'pods',
        path: '/api/v1/pods',
        source: () => ({ ...target, server: `https://127.0.0.1:${port}` }),
        trim: (o) => o,
      });
      i.start();
      await until('the list connected', () => held.length > 0);
      await i.stop(); // before: waited for the list's 60 s timeout (this test's 5 s ran out)
      expect(i.synced).toBe(false);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => hole.close(() => r()));
    }
  });
});
