import { describe, expect, it } from 'vitest';
import { CniError } from '../cni/errors.ts';
import { cniVersionOf, errorResponse, parseRequest } from './protocol.ts';

const body = (o: unknown) => Buffer.from(JSON.stringify(o));
const codeOf = (f: () => unknown): [number, string] => {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return [e.code, e.message];
    throw e;
  }
  throw new Error('no error');
};

describe('parseRequest', () => {
  it('keeps CNI_* and MANIFOLD_* only, decodes stdin', () => {
    const r = parseRequest(
      body({
        name: 'macvlan',
        env: { CNI_COMMAND: 'ADD', MANIFOLD_SYSFS_ROOT: '/x', LD_PRELOAD: '/evil.so', PATH: '/tmp' },
        stdin: Buffer.from('{"a":1}').toString('base64'),
      }),
    );
    expect(r.env).toEqual({ CNI_COMMAND: 'ADD', MANIFOLD_SYSFS_ROOT: '/x' });
    expect(r.stdin.toString()).toBe('{"a":1}');
    expect(r.name).toBe('macvlan');
  });

  it('code 6 for what is not JSON or not base64, 7 naming the missing or wrong field', () => {
    expect(codeOf(() => parseRequest(Buffer.from('{nope')))[0]).toBe(6);
    expect(codeOf(() => parseRequest(Buffer.from('[1]')))[0]).toBe(6);
    expect(codeOf(() => parseRequest(body({ name: 'm', env: {}, stdin: 'not base64!' })))[0]).toBe(6);
    expect(codeOf(() => parseRequest(body({ env: {}, stdin: '' })))).toEqual([
      7,
      'invalid request: name must be a non-empty string (got missing)',
    ]);
    expect(codeOf(() => parseRequest(body({ name: 'm', stdin: '' })))[1]).toMatch(
      /^invalid request: env must/,
    );
    expect(codeOf(() => parseRequest(body({ name: 'm', env: {} })))[1]).toMatch(
      /^invalid request: stdin must/,
    );
    expect(codeOf(() => parseRequest(body({ name: 'm', env: { CNI_IFNAME: 3 }, stdin: '' })))).toEqual([
      7,
      'invalid request: env.CNI_IFNAME must be a string (got 3)',
    ]);
  });

  it('writes errors as the skel prints them, with the config version when it can read it', () => {
    expect(errorResponse(11, 'busy\nnow', cniVersionOf(Buffer.from('{"cniVersion":"0.4.0"}')))).toEqual({
      status: 1,
      stdout: '{\n    "cniVersion": "0.4.0",\n    "code": 11,\n    "msg": "busy now"\n}\n',
    });
    expect(cniVersionOf(Buffer.from('garbage'))).toBe('1.1.0');
  });
});
