import { describe, expect, it } from 'vitest';
import { cniErrorOf } from '../../test/helpers/skel.ts';
import { interfaceNameProblem } from '../cni/names.ts';
import { VERBS, type Verb } from '../cni/plugin.ts';
import { parseCniArgs, parseEnv } from './env.ts';

const FULL = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/p1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
};

// The spec's table: which variables each verb needs.
const REQUIRED: Record<Verb, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

describe('parseEnv', () => {
  describe.each(VERBS)('%s', (verb) => {
    it('accepts the full environment', () => {
      const args = parseEnv({ ...FULL, CNI_COMMAND: verb });
      expect(args.command).toBe(verb);
      expect(args.path).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
    });

    it('accepts only the required variables', () => {
      const env: Record<string, string> = { CNI_COMMAND: verb };
      for (const name of REQUIRED[verb]) env[name] = FULL[name as keyof typeof FULL];
      expect(parseEnv(env).command).toBe(verb);
    });

    it.each(REQUIRED[verb].map((n) => [n]))('reports %s missing (code 4)', (name) => {
      const env: Record<string, string> = { ...FULL, CNI_COMMAND: verb };
      delete env[name];
      const e = cniErrorOf(() => parseEnv(env));
      expect(e.code).toBe(4);
      expect(e.message).toBe(`required env variables [${name}] missing`);
    });

    if (REQUIRED[verb].length > 1) {
      it('reports every missing variable in one error', () => {
        const e = cniErrorOf(() => parseEnv({ CNI_COMMAND: verb }));
        expect(e.code).toBe(4);
        expect(e.message).toBe(`required env variables [${REQUIRED[verb].join(',')}] missing`);
      });
    }
  });

  it('treats an empty value as missing', () => {
    const e = cniErrorOf(() => parseEnv({ ...FULL, CNI_NETNS: '' }));
    expect(e.message).toBe('required env variables [CNI_NETNS] missing');
  });

  it('requires CNI_COMMAND and names it', () => {
    const e = cniErrorOf(() => parseEnv({}));
    expect([e.code, e.message]).toEqual([4, 'required env variables [CNI_COMMAND] missing']);
  });

  it('rejects an unknown command (code 4)', () => {
    const e = cniErrorOf(() => parseEnv({ ...FULL, CNI_COMMAND: 'ATTACH' }));
    expect(e.code).toBe(4);
    expect(e.message).toContain('"ATTACH"');
  });

  it.each([['-abc'], ['a b'], ['a/b'], ['ä'], ['.x']])('rejects container id %j (code 4)', (id) => {
    const e = cniErrorOf(() => parseEnv({ ...FULL, CNI_CONTAINERID: id }));
    expect(e.code).toBe(4);
    expect(e.message).toContain(JSON.stringify(id));
  });

  it.each([['a'], ['0abc_.-Z'], ['f'.repeat(64)]])('accepts container id %j', (id) => {
    expect(parseEnv({ ...FULL, CNI_CONTAINERID: id }).containerId).toBe(id);
  });

  it.each([['.'], ['..'], ['a/b'], ['a:b'], ['a b'], ['abcdefghijklmnop'], ['e\tx']])(
    'rejects ifname %j (code 4)',
    (name) => {
      const e = cniErrorOf(() => parseEnv({ ...FULL, CNI_IFNAME: name }));
      expect(e.code).toBe(4);
      expect(e.message).toContain('CNI_IFNAME');
    },
  );

  it('accepts a 15-byte ifname', () => {
    expect(parseEnv({ ...FULL, CNI_IFNAME: 'abcdefghijklmno' }).ifname).toBe('abcdefghijklmno');
    expect(interfaceNameProblem('abcdefghijklmno')).toBeUndefined();
  });

  it('does not validate variables a verb does not use', () => {
    expect(parseEnv({ CNI_COMMAND: 'STATUS', CNI_IFNAME: 'a/b', CNI_CONTAINERID: '-' }).command).toBe(
      'STATUS',
    );
  });
});

describe('parseCniArgs', () => {
  it('parses pairs and keeps unknown keys', () => {
    const m = parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web-0;IP=10.1.2.3;X=a=b');
    expect(Object.fromEntries(m)).toEqual({
      IgnoreUnknown: '1',
      K8S_POD_NAME: 'web-0',
      IP: '10.1.2.3',
      X: 'a=b',
    });
  });

  it('allows empty input and stray separators', () => {
    expect(parseCniArgs('').size).toBe(0);
    expect(parseCniArgs('A=1;;').get('A')).toBe('1');
  });

  it.each([['FOO'], ['=x'], ['A=1;B']])('rejects %j (code 4)', (raw) => {
    const e = cniErrorOf(() => parseCniArgs(raw));
    expect(e.code).toBe(4);
  });
});
