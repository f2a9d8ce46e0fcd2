/**
 * The pod network selection annotation: both forms, every per-attachment option, the errors
 * (code 7 quoting the bad part), and fast-check fuzzing of arbitrary input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cniErrorOf } from '../../../test/helpers/skel.ts';
import { DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION, parseNetworksAnnotation } from './annotation.ts';

const parse = (v: string) => parseNetworksAnnotation(v, 'team-a');

describe('comma form', () => {
  it('reads [namespace/]name[@interface] with the pod namespace as default', () => {
    expect(parse('macvlan-net, other/sriov-net@vf1 ,bridge.net@br-1')).toEqual([
      { name: 'macvlan-net', namespace: 'team-a' },
      { name: 'sriov-net', namespace: 'other', interface: 'vf1' },
      { name: 'bridge.net', namespace: 'team-a', interface: 'br-1' },
    ]);
    expect(parse('')).toEqual([]);
    expect(parse('  ')).toEqual([]);
  });

  it.each([
    ['a/b/c', /"a\/b\/c": more than one "\/"/],
    ['a@b@c', /"a@b@c": more than one "@"/],
    ['Net1', /network name "Net1" in "Net1" must be lower-case/],
    ['ns_x/net', /namespace "ns_x" in "ns_x\/net"/],
    ['net@this-name-is-too-long', /interface name "this-name-is-too-long" .* longer than 15 bytes/],
    ['net@', /interface name "" in "net@" is empty/],
    ['a,,b', /an empty entry/],
    ['a,', /an empty entry/],
  ])('%j is code 7 quoting the bad part', (value, msg) => {
    const e = cniErrorOf(() => parse(value));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(new RegExp(`^pod annotation ${NETWORKS_ANNOTATION}: `));
    expect(e.message).toMatch(msg);
  });
});

describe('JSON form', () => {
  it('reads every per-attachment option', () => {
    const value = JSON.stringify([
      {
        name: 'mv',
        namespace: 'infra',
        interface: 'data0',
        ips: ['10.1.0.5/24', 'fd00::5'],
        mac: '0A:58:0A:01:00:05',
        'default-route': ['10.1.0.1'],
        'cni-args': { vlan: 5, note: 'x' },
        portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
        bandwidth: { ingressRate: 1000, ingressBurst: 2000, egressRate: 3000, egressBurst: 4000 },
        'infiniband-guid': '00:11:22:33:44:55:66:77',
        deviceID: '0000:03:02.3',
        unknownKey: 'ignored',
      },
      { name: 'plain' },
      { name: 'old', interfaceRequest: 'legacy0' },
    ]);
    expect(parse(value)).toEqual([
      {
        name: 'mv',
        namespace: 'infra',
        interface: 'data0',
        ips: ['10.1.0.5/24', 'fd00::5'],
        mac: '0a:58:0a:01:00:05',
        defaultRoute: ['10.1.0.1'],
        cniArgs: { vlan: 5, note: 'x' },
        portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
        bandwidth: { ingressRate: 1000, ingressBurst: 2000, egressRate: 3000, egressBurst: 4000 },
        infinibandGUID: '00:11:22:33:44:55:66:77',
        deviceID: '0000:03:02.3',
      },
      { name: 'plain', namespace: 'team-a' },
      { name: 'old', namespace: 'team-a', interface: 'legacy0' },
    ]);
    expect(parse('[{"name":"x","default-route":[]}]')).toEqual([
      { name: 'x', namespace: 'team-a', defaultRoute: [] },
    ]);
  });

  it.each([
    ['[{"name":"a","mac":"zz"}]', /\[0\]\.mac: must be a MAC address.*got "zz"/],
    [
      '[{"name":"a"},{"name":"b","ips":["10.1.0.300"]}]',
      /\[1\]\.ips\[0\]: must be an IP address or CIDR; got "10\.1\.0\.300"/,
    ],
    [
      '[{"name":"a","default-route":["10.0.0.0/8"]}]',
      /\[0\]\.default-route\[0\]: must be an IP address; got "10\.0\.0\.0\/8"/,
    ],
    ['[{"name":"a","interface":"with space"}]', /\[0\]\.interface: .*white space; got "with space"/],
    ['[{"namespace":"x"}]', /\[0\]\.name: is required/],
    ['[{"name":"a","portMappings":[{"hostPort":70000,"containerPort":80}]}]', /portMappings\[0\]\.hostPort/],
    ['{"name":"a"}', /must be a list of objects; got "\{\\"name\\":\\"a\\"\}"/],
    ['[{"name":"a",}]', /not valid JSON near ".*\}\]"/],
    ['[{"name": "a"', /not valid JSON near "\[\{\\"name\\": \\"a\\""/],
  ])('%s is code 7 quoting the bad part', (value, msg) => {
    const e = cniErrorOf(() => parse(value));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(msg);
  });

  it('reads a manifold object: multi-homing options of that attachment (manifold extension)', () => {
    expect(parse('[{"name":"a","manifold":{"policyRouting":true,"gatewayCheck":"warn"}}]')).toEqual([
      { name: 'a', namespace: 'team-a', multihome: { policyRouting: true, gatewayCheck: 'warn' } },
    ]);
    const bad = cniErrorOf(() => parse('[{"name":"a","manifold":{"gatewayCheck":"loud"}}]'));
    expect(bad.code).toBe(7);
    expect(bad.message).toMatch(
      /\[0\]\.manifold\.gatewayCheck: expected one of "off", "warn", "fail"; got "loud"/,
    );
    const typo = cniErrorOf(() => parse('[{"name":"a","manifold":{"policyRoutng":true}}]'));
    expect(typo.message).toMatch(/\[0\]\.manifold: .*policyRoutng/);
  });

  it('names the annotation it reads', () => {
    const e = cniErrorOf(() => parseNetworksAnnotation('A', 'kube-system', DEFAULT_NETWORK_ANNOTATION));
    expect(e.message).toMatch(/^pod annotation v1\.multus-cni\.io\/default-network: network name "A"/);
  });
});

/** The quoted strings of a message, decoded. */
function quoted(msg: string): string[] {
  return [...msg.matchAll(/"((?:[^"\\]|\\.)*)"/g)].flatMap((m) => {
    try {
      return [JSON.parse(`"${m[1]}"`) as string];
    } catch {
      return [];
    }
  });
}

describe('fuzzing', () => {
  const pieces = fc.constantFrom(
    'a',
    'net',
    'ns/',
    '/',
    '@',
    ',',
    ' ',
    'eth0',
    '[',
    ']',
    '{',
    '}',
    '"',
    ':',
    'name',
    'Ü',
    '-',
    '.',
    '\n',
    '1',
  );
  const inputs = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.array(pieces, { maxLength: 25 }).map((p) => p.join('')),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .array(
        fc.record(
          {
            name: fc.oneof(fc.constantFrom('a', 'b-1', ''), fc.string()),
            mac: fc.oneof(fc.constant('0a:00:00:00:00:01'), fc.string()),
          },
          { requiredKeys: ['name'] },
        ),
        { maxLength: 3 },
      )
      .map((v) => JSON.stringify(v)),
  );

  it('any input gives a parse or a one-line code-7 error quoting a part of it (or naming its JSON path)', () => {
    fc.assert(
      fc.property(inputs, (value) => {
        let list: ReturnType<typeof parse>;
        try {
          list = parse(value);
        } catch (err) {
          const e = cniErrorOf(() => {
            throw err;
          });
          expect(e.code).toBe(7);
          expect(e.message).not.toContain('\n');
          expect(e.message.startsWith(`pod annotation ${NETWORKS_ANNOTATION}`)).toBe(true);
          const parts = quoted(e.message).map((q) => q.replace(/…$/, ''));
          const quotesInput = parts.some((q) => q !== '' && value.includes(q));
          const namesPath = /networks\[\d+\]/.test(e.message);
          expect(quotesInput || namesPath || value.trim() === ',' || /empty/.test(e.message), e.message).toBe(
            true,
          );
          return;
        }
        for (const s of list) {
          expect(s.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
          expect(s.namespace).not.toBe('');
        }
      }),
      { numRuns: 3000 },
    );
  });
});
