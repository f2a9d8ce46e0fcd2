/**
 * The fuzz tier on the daemon's socket: `manifold daemon` (the source, as a process) gets
 * random and mutated requests straight on its unix socket — random bytes instead of HTTP,
 * random and truncated JSON bodies, the protocol's fields with wrong types, bodies that are
 * not base64, huge and malformed headers, bad Content-Lengths, bodies over 4 MiB, and slow
 * writers that send a request a few bytes at a time. After each:
 * - a complete request got an HTTP error whose body is `{status: 1, stdout: <CNI error>}`
 *   with code 6 or 7 (11 with 503), never a result, a crash or a hang; a request that never
 *   completed (random bytes that stop mid-header) got that answer or a closed connection;
 * - the daemon still answers a valid VERSION call and /healthz, and its process is alive.
 * Alongside, clients that connect and stall are closed by the per-connection deadline while
 * the fuzzing goes on. Runs: MANIFOLD_FUZZ_RUNS (default 300).
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, cniCall, httpCall, rawCall } from '../helpers/daemon.ts';
import { type DaemonProc, killHard, serving, spawnDaemon } from '../helpers/daemon-proc.ts';
import { requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
const RUNS = Number(process.env.MANIFOLD_FUZZ_RUNS ?? 300);
const tmp = scratchDir('mf-it-dfuzz-');
const SOCK = join(tmp, 'run', 'manifold.sock');
let d: DaemonProc;
beforeAll(async () => {
  d = spawnDaemon(SOCK);
  await serving(SOCK, d);
});
afterAll(async () => {
  if (d) await killHard(d);
});

interface Outcome {
  readonly text: string;
  readonly answer: Answer | undefined;
  readonly error: string | undefined;
  /** Still open when the test gave up. */
  readonly hung: boolean;
}

function parse(text: string): Answer | undefined {
  const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(text);
  if (!m) return undefined;
  const body = m[2] as string;
  let json: Answer['json'];
  let code: number | undefined;
  try {
    json = JSON.parse(body) as Answer['json'];
    const c = JSON.parse(json?.stdout ?? '') as { code?: unknown };
    if (typeof c.code === 'number') code = c.code;
  } catch {
    // not JSON
  }
  return { http: Number(m[1]), body, json, code };
}

/** Writes `chunks` (each after its pause), half-closes when `end`, reads until the daemon closes. */
function send(
  chunks: { data: Buffer; pauseMs: number }[],
  end: boolean,
  giveUpMs = 12_000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = connect(SOCK);
    const got: Buffer[] = [];
    let error: string | undefined;
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      s.destroy();
    }, giveUpMs);
    s.on('connect', async () => {
      for (const c of chunks) {
        if (c.pauseMs) await new Promise((r) => setTimeout(r, c.pauseMs));
        if (s.destroyed) return;
        s.write(c.data);
      }
      if (end && !s.destroyed) s.end();
    });
    s.on('data', (b: Buffer) => got.push(b));
    s.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
    });
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(got).toString();
      resolve({ text, answer: parse(text), error, hung });
    });
  });
}

const request = (body: Buffer, headers: string[] = [], contentLength?: string): Buffer =>
  Buffer.concat([
    Buffer.from(
      `POST /cni HTTP/1.1\r\nHost: manifold\r\nContent-Type: application/json\r\n${headers.map((h) => `${h}\r\n`).join('')}Content-Length: ${contentLength ?? body.length}\r\n\r\n`,
    ),
    body,
  ]);

const VALID = {
  name: 'macvlan',
  env: { CNI_COMMAND: 'VERSION', CNI_CONTAINERID: 'fz', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0' },
  stdin: Buffer.from('{"cniVersion":"1.0.0"}').toString('base64'),
};

/** A value of any JSON type but `keep`'s. */
const wrongType = (keep: 'string' | 'object') =>
  fc
    .oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer(),
      fc.boolean(),
      fc.string(),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    )
    .filter((v) =>
      keep === 'string' ? typeof v !== 'string' : v === null || typeof v !== 'object' || Array.isArray(v),
    );

/** A request body the protocol must refuse. */
const badBody: fc.Arbitrary<{ what: string; body: Buffer }> = fc.oneof(
  fc
    .uint8Array({ minLength: 0, maxLength: 3000 })
    .map((b) => ({ what: 'random bytes', body: Buffer.from(b) })),
  fc.nat({ max: JSON.stringify(VALID).length - 1 }).map((n) => ({
    what: `JSON cut at ${n}`,
    body: Buffer.from(JSON.stringify(VALID).slice(0, n)),
  })),
  fc
    .jsonValue({ maxDepth: 3 })
    .map((v) => ({ what: 'random JSON', body: Buffer.from(JSON.stringify(v) ?? '') })),
  fc
    .record({
      name: fc.oneof(wrongType('string'), fc.constant(''), fc.constant(VALID.name)),
      env: fc.oneof(
        wrongType('object'),
        wrongType('string')
          .filter((v) => v !== undefined) // JSON would drop it: a valid env
          .map((v) => ({ ...VALID.env, CNI_IFNAME: v })),
        fc.constant(VALID.env),
      ),
      stdin: fc.oneof(
        wrongType('string'),
        fc.constantFrom('not base64!', '{"cniVersion":"1.0.0"}', 'QQ', 'Q===', '====', ' QUJD'),
        fc.constant(VALID.stdin),
      ),
    })
    .filter((r) => !(r.name === VALID.name && r.env === VALID.env && r.stdin === VALID.stdin))
    .map((r) => ({ what: 'fields of the wrong type', body: Buffer.from(JSON.stringify(r)) })),
);

type Case = {
  what: string;
  chunks: { data: Buffer; pauseMs: number }[];
  end: boolean;
  complete: boolean;
  /** Not POST /cni: another route, whose refusal is its own JSON (404 names the routes), not a CNI error. */
  otherRoute?: boolean;
};

const whole = (what: string, data: Buffer): Case => ({
  what,
  chunks: [{ data, pauseMs: 0 }],
  end: false,
  complete: true,
});

const cases: fc.Arbitrary<Case> = fc.oneof(
  { weight: 5, arbitrary: badBody.map(({ what, body }) => whole(what, request(body))) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(badBody, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 60 }))
      .map(([{ what, body }, size, pause]) => {
        const data = request(body);
        const chunks: Case['chunks'] = [];
        for (let i = 0; i < data.length && chunks.length < 12; i += size) {
          chunks.push({
            data: data.subarray(i, chunks.length === 11 ? data.length : i + size),
            pauseMs: pause,
          });
        }
        return {
          what: `slow writer (${size} bytes every ${pause} ms): ${what}`,
          chunks,
          end: false,
          complete: true,
        };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        badBody,
        fc.integer({ min: 9000, max: 70_000 }),
        fc.constantFrom('X-Big', 'Cookie', 'Content-Type'),
      )
      .map(([{ body }, n, name]) =>
        whole(`a ${n}-byte ${name} header`, request(body, [`${name}: ${'a'.repeat(n)}`])),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(badBody, fc.integer({ min: 200, max: 3000 })).map(([{ body }, n]) =>
      whole(
        `${n} headers`,
        request(
          body,
          Array.from({ length: n }, (_, i) => `X-H${i}: v`),
        ),
      ),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('abc', '-1', '1e3', '0x10', '99999999999999999999', '5000000', '4194305', ' ', '1, 2')
      .map((cl) => whole(`Content-Length: ${cl}`, request(Buffer.from('{"name":"x"}'), [], cl))),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => ({
      what: 'random bytes instead of HTTP',
      chunks: [{ data: Buffer.from(b), pauseMs: 0 }],
      end: true,
      complete: false,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(badBody, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'post', 'POST /cni?x=1', 'POST //cni'))
      .map(([{ body }, m]) => {
        const data = request(body);
        const line = m.includes(' ') ? m : `${m} /cni`;
        return {
          what: `request line ${line}`,
          chunks: [
            {
              data: Buffer.concat([Buffer.from(line), data.subarray(data.indexOf(' /cni') + 5)]),
              pauseMs: 0,
            },
          ],
          end: true,
          complete: false,
          otherRoute: !/^(POST|post) \/cni(\?|$)/.test(line),
        };
      }),
  },
);

async function stillServes(): Promise<void> {
  const v = await cniCall(SOCK, 'macvlan', VALID.env, '{"cniVersion":"1.0.0"}');
  expect(v.http, v.body).toBe(200);
  expect(v.json?.status, v.body).toBe(0);
  expect(JSON.parse(v.json?.stdout ?? '{}').supportedVersions).toContain('1.0.0');
  expect((await httpCall(SOCK, 'GET', '/healthz')).http).toBe(200);
  expect(d.child.exitCode, d.stderr).toBeNull();
}

/** An answer a refused request may get: an HTTP error carrying a CNI error of code 6 or 7 (11 with 503). */
function expectRefusal(a: Answer, what: string): void {
  expect(a.http, `${what}: ${a.body}`).toBeGreaterThanOrEqual(400);
  expect(a.json?.status, `${what}: ${a.body}`).toBe(1);
  const err = JSON.parse(a.json?.stdout ?? '{}') as { code?: number; msg?: string; cniVersion?: string };
  expect(typeof err.msg, `${what}: ${a.body}`).toBe('string');
  expect(err.msg, what).not.toMatch(/\n/);
  expect(typeof err.cniVersion, what).toBe('string');
  if (a.http === 503) expect(err.code, `${what}: ${a.body}`).toBe(11);
  else expect([6, 7], `${what}: ${a.body}`).toContain(err.code);
}

describe('fuzzing the daemon socket', () => {
  it(`${RUNS} random and mutated requests: each refused with a CNI error (6 or 7), the daemon serving after each`, async () => {
    // stalled clients alongside: connected, half a request, then nothing
    const stalled = [
      rawCall(SOCK, []),
      rawCall(SOCK, ['POST /cni HTTP/1.1\r\nHost: manifold\r\nContent-Length: 50\r\n\r\n{"na']),
      rawCall(SOCK, ['POST /cni HTTP/1.1\r\nHost: man']),
    ];
    const tally = new Map<string, number>();
    const deadline = performance.now() + 40_000;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        if (performance.now() > deadline) return; // time-bounded: the remaining runs pass
        runs++;
        const o = await send(c.chunks, c.end);
        expect(o.hung, `${c.what}: no answer and still open`).toBe(false);
        let kind: string;
        if (o.answer && c.otherRoute && o.answer.code === undefined) {
          expect(o.answer.http, `${c.what}: ${o.answer.body}`).toBeGreaterThanOrEqual(400);
          expect(o.answer.json, `${c.what}: ${o.answer.body}`).toBeDefined();
          kind = `${o.answer.http} (not /cni)`;
        } else if (o.answer) {
          expectRefusal(o.answer, c.what);
          kind = `${o.answer.http} code ${o.answer.code}`;
        } else {
          // only a request that never completed may end without an answer
          expect(
            c.complete,
            `${c.what}: closed without an answer (${o.error ?? 'no error'}): ${o.text}`,
          ).toBe(false);
          kind = 'closed';
        }
        const key = `${c.what.replace(/[\d]+/g, 'N').replace(/: .*/, '')} → ${kind}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        await stillServes();
      }),
      { numRuns: RUNS },
    );
    for (const s of await Promise.all(stalled)) {
      expect(s.error).toBeUndefined(); // closed by the daemon, not still open
    }
    await stillServes();
    process.stdout.write(
      `\nsocket fuzz: ${runs} runs\n  ${[...tally]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join('\n  ')}\n`,
    );
  }, 60_000);

  it('bodies over 4 MiB (declared, or streamed under a false Content-Length) get 413 with code 6', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 10, 'a');
    const declared = await send(
      [{ data: request(Buffer.from('{}'), [], String(big.length)), pauseMs: 0 }],
      false,
    );
    expect(declared.answer?.http).toBe(413);
    expectRefusal(declared.answer as Answer, 'declared');
    const chunked = await send(
      [
        {
          data: Buffer.from('POST /cni HTTP/1.1\r\nHost: manifold\r\nTransfer-Encoding: chunked\r\n\r\n'),
          pauseMs: 0,
        },
        {
          data: Buffer.concat([
            Buffer.from(`${big.length.toString(16)}\r\n`),
            big,
            Buffer.from('\r\n0\r\n\r\n'),
          ]),
          pauseMs: 0,
        },
      ],
      false,
    );
    expect(chunked.answer?.http, chunked.text.slice(0, 300)).toBe(413);
    expectRefusal(chunked.answer as Answer, 'streamed');
    await stillServes();
  });
});
