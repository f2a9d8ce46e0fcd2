/**
 * manifold validate: every file in conf.d-examples passes (a NAD, a conf, the meta config with
 * its delegates from confDir); broken configs get every problem with its JSON path, value and
 * what is allowed, from the plugins' own parsers (the same text ADD's error has); the risk
 * warnings fire on the cases they name and not on the examples taken one by one.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, REPO } from '../../../test/helpers/cli.ts';
import { scratchDir } from '../../../test/helpers/scratch.ts';
import { runWith } from '../../../test/helpers/skel.ts';
import { loaderFor } from '../../registry.ts';

const EXAMPLES = join(REPO, 'conf.d-examples');
const dir = scratchDir('mf-validate-');
let n = 0;

function file(content: unknown, ext = 'conf'): string {
  const f = join(dir, `f${++n}.${ext}`);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return f;
}

const validate = (...args: string[]) => cli(['validate', ...args]);

const macvlan = (extra: object = {}) => ({
  cniVersion: '1.0.0',
  name: 'mv',
  type: 'macvlan',
  master: 'eth1',
  ipam: { type: 'host-local', subnet: '10.1.0.0/24' },
  ...extra,
});

describe('validate: the examples', () => {
  const files = [
    ...readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.conf'))
      .map((f) => `conf.d-examples/${f}`),
    ...readdirSync(join(EXAMPLES, 'nad')).map((f) => `conf.d-examples/nad/${f}`),
  ];
  it.each(files.map((f) => [f]))('%s is ok', async (f) => {
    const r = await validate('--conf-dir', 'conf.d-examples', f);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/: ok: network "[^"]+": /);
    expect(r.out).not.toMatch(/: (error|warning): /);
  });

  it('the meta config resolves its three delegates from --conf-dir and checks each', async () => {
    const r = await validate('--conf-dir', 'conf.d-examples', 'conf.d-examples/00-manifold.conf');
    expect(r.out).toMatch(
      /ok: network "manifold-demo": manifold \(in-process\): 3 delegate\(s\); bridge \(in-process\), IPAM host-local \(in-process\); macvlan/,
    );
  });

  it('a whole directory; the risks across the examples are warnings, not errors', async () => {
    const r = await validate('conf.d-examples', 'conf.d-examples/nad');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/25 network\(s\) in 19 file\(s\): 0 error\(s\), \d+ warning\(s\)/);
    // the examples' ipvlan and macvlan share a master: a true risk if both run on one node
    expect(r.out).toMatch(/15-ipvlan\.conf: warning: master: master "mfdemo0" also carries macvlan/);
  });
});

describe('validate: broken configs', () => {
  it.each<[string, unknown, RegExp[]]>([
    [
      'a bad enum value: path, value and what is allowed',
      macvlan({ mode: 'bridged' }),
      [/: error: mode: expected one of "", "bridge", "private", "vepa", "passthru"; got "bridged"$/m],
    ],
    [
      'every problem of one plugin, IPAM included',
      macvlan({ mode: 'x', mtu: 'big', ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/33' }]] } }),
      [
        /error: mode: /m,
        /error: mtu: expected number, got string "big"/m,
        /error: ipam\.ranges\[0\]\[0\]\.subnet: /m,
      ],
    ],
    [
      'a meta conflist: paths down to the delegate',
      {
        cniVersion: '1.0.0',
        name: 'pod',
        plugins: [
          {
            type: 'manifold',
            delegates: [
              { name: 'a', type: 'macvlan', master: 'eth1' },
              { name: 'b', type: 'bridge' },
              { name: 'c', type: 'macvlan', mode: 'bridged', master: 'eth1' },
              { name: 'd', type: 'manifold', delegates: [] },
              { name: 'e', type: 'bridge', manifold: { ifname: 'net1' } },
            ],
          },
        ],
      },
      [
        /error: plugins\[0\]\.delegates\[2\]\.mode: expected one of .*; got "bridged"/,
        /error: plugins\[0\]\.delegates\[3\]\.type: a delegate of type "manifold" is refused/,
        /error: plugins\[0\]\.delegates\[4\]: interface name "net1" is already used by delegates\[1\]/,
      ],
    ],
    [
      'an unsupported cniVersion',
      macvlan({ cniVersion: '9.9.9' }),
      [/error: cniVersion: "9\.9\.9" is not supported/],
    ],
    ['no type', { cniVersion: '1.0.0', name: 'x' }, [/error: type: is required/]],
    [
      'a bad network name',
      macvlan({ name: 'my net' }),
      [/error: name: invalid characters in network name "my net"/],
    ],
    [
      'a meta config field',
      { cniVersion: '1.0.0', name: 'm', type: 'manifold', cniDir: 'rel', delegates: [macvlan()] },
      [/error: cniDir: must be an absolute path; got "rel"/],
    ],
    ['not JSON', '{"cniVersion": ', [/error: not valid JSON: /]],
    [
      "a network's manifold object, by the meta-plugin's parser",
      macvlan({ manifold: { ifname: 'a/b', policyRouting: 'yes' } }),
      [/error: manifold\.policyRouting: expected boolean, got string "yes"/],
    ],
  ])('%s', async (_what, content, want) => {
    const r = await validate(file(content));
    expect(r.code, r.out).toBe(1);
    for (const w of want) expect(r.out).toMatch(w);
    expect(r.err).toBe('');
  });

  it('prints the message ADD itself would give', async () => {
    const conf = macvlan({ mode: 'bridged' });
    const r = await validate(file(conf));
    const add = await runWith(
      loaderFor('macvlan') as NonNullable<ReturnType<typeof loaderFor>>,
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0' },
      JSON.stringify(conf),
    );
    expect(add.code).toBe(1);
    expect(r.out).toContain(`error: ${String(add.json?.msg)}`);
  });

  it('NetworkAttachmentDefinitions: several documents, a List, broken ones', async () => {
    const nad = (name: string, config: string) =>
      `apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: ${name}\nspec:\n  config: '${config}'\n`;
    const yaml = [
      nad('good', JSON.stringify({ cniVersion: '1.0.0', type: 'macvlan', master: 'eth1' })),
      nad('Bad_Name', JSON.stringify({ cniVersion: '1.0.0', type: 'macvlan', mode: 3 })),
      nad('notjson', '{"type": '),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n',
      'foo: [\n',
    ].join('---\n');
    const r = await validate(file(yaml, 'yaml'));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /\(document 1\): NetworkAttachmentDefinition default\/good spec\.config: ok: network "good"/,
    );
    expect(r.out).toMatch(
      /\(document 2\): NetworkAttachmentDefinition default\/Bad_Name: error: metadata\.name: "Bad_Name" is not a DNS-1123 subdomain/,
    );
    expect(r.out).toMatch(
      /\(document 2\): NetworkAttachmentDefinition default\/Bad_Name spec\.config: error: mode: expected one of .*; got 3/,
    );
    expect(r.out).toMatch(
      /\(document 3\): NetworkAttachmentDefinition default\/notjson: error: spec\.config: spec\.config is not valid JSON/,
    );
    expect(r.out).toMatch(/\(document 4\): error: kind: "ConfigMap" is not a NetworkAttachmentDefinition/);
    expect(r.out).toMatch(/\(document 5\): error: not valid YAML: /);
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'k8s.cni.cncf.io/v1',
          kind: 'NetworkAttachmentDefinition',
          metadata: { name: 'a', namespace: 'infra' },
          spec: { config: JSON.stringify(macvlan()) },
        },
      ],
    };
    const l = await validate(file(list, 'json'));
    expect(l.out).toMatch(/items\[0\]: NetworkAttachmentDefinition infra\/a spec\.config: ok: network "mv"/);
    expect(l.code).toBe(0);
  });

  it('--json', async () => {
    const r = await validate(
      '--json',
      file(macvlan({ mode: 'x' })),
      file(macvlan({ name: 'ok', ipam: { type: 'host-local', subnet: '10.2.0.0/24' } })),
    );
    const j = JSON.parse(r.out) as {
      ok: boolean;
      networks: { network: string; ok: boolean }[];
      findings: { level: string; path: string }[];
    };
    expect(j.ok).toBe(false);
    expect(j.networks.map((x) => [x.network, x.ok])).toEqual([
      ['mv', false],
      ['ok', true],
    ]);
    expect(j.findings).toEqual([expect.objectContaining({ level: 'error', path: 'mode' })]);
  });

  it('a usage error is exit 2 with one line and the usage', async () => {
    const r = await validate();
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^manifold validate: missing FILE\.\.\.\nusage: manifold validate FILE\.\.\./);
  });
});

describe('validate: risks', () => {
  it('vxlan without an explicit port', async () => {
    const r = await validate(
      file({ cniVersion: '1.0.0', name: 'vx', type: 'vxlan', vni: 7, remotes: ['192.0.2.9'] }),
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/warning: port: not set: manifold uses 4789 \(IANA\), but Linux defaults to 8472/);
    const ok = await validate(file({ cniVersion: '1.0.0', name: 'vx', type: 'vxlan', vni: 7, port: 8472 }));
    expect(ok.out).not.toMatch(/: warning: /);
  });

  it('macvlan and ipvlan on one master, across files; not on different masters', async () => {
    const ipvlan = (master?: string) => ({
      cniVersion: '1.0.0',
      name: 'iv',
      type: 'ipvlan',
      ...(master ? { master } : {}),
    });
    const r = await validate(file(macvlan()), file(ipvlan('eth1')));
    expect(r.out).toMatch(/warning: master: master "eth1" also carries macvlan: network "mv"/);
    const apart = await validate(file(macvlan()), file(ipvlan('eth2')));
    expect(apart.out).not.toMatch(/: warning: /);
    const both = await validate(file(macvlan({ master: undefined })), file(ipvlan()));
    expect(both.out).toMatch(/the default-route interface \(no master\) also carries macvlan/);
  });

  it('an MTU above the master on this node (lo here)', async () => {
    const r = await validate(file(macvlan({ master: 'lo', mtu: 70000 })));
    expect(r.out).toMatch(
      /warning: mtu: 70000 is above the MTU of master "lo" on this node \(MTU 65536\): ADD will fail here/,
    );
    const vx = await validate(
      file({ cniVersion: '1.0.0', name: 'vx', type: 'vxlan', vni: 7, port: 4789, master: 'lo', mtu: 65500 }),
    );
    expect(vx.out).toMatch(/warning: mtu: 65500 is above 65486, the most a vxlan over master "lo"/);
    const tun = (mtu: number) =>
      file({
        cniVersion: '1.0.0',
        name: 'tn',
        type: 'tunnel',
        mode: 'ip6gre',
        remote: '2001:db8::1',
        key: 1,
        master: 'lo',
        mtu,
      });
    // ip6gre with a key: 40 + 4 + 4 (key) + 8 (encapsulation limit option) = 56 bytes
    expect((await validate(tun(65481))).out).toMatch(
      /warning: mtu: 65481 is above 65480, the most a tunnel in mode ip6gre over master "lo" on this node \(MTU 65536\)/,
    );
    expect((await validate(tun(65480))).out).not.toMatch(/: warning: /);
    const fine = await validate(file(macvlan({ master: 'lo', mtu: 9000 })));
    expect(fine.out).not.toMatch(/: warning: /);
  });

  it('host-local ranges overlapping across networks (different stores), not within one store', async () => {
    const hl = (name: string, ranges: object, dataDir?: string) =>
      macvlan({ name, ipam: { type: 'host-local', ranges: [[ranges]], ...(dataDir ? { dataDir } : {}) } });
    const r = await validate(
      file(hl('a', { subnet: '10.5.0.0/16', rangeStart: '10.5.1.0', rangeEnd: '10.5.1.255' })),
      file(hl('b', { subnet: '10.5.1.128/25' })),
      file(hl('c', { subnet: '10.6.0.0/24' })),
    );
    expect(r.out).toMatch(
      /warning: ipam: host-local range 10\.5\.1\.128\/25 overlaps 10\.5\.0\.0\/16 \(10\.5\.1\.0-10\.5\.1\.255\) of network "a"/,
    );
    expect(r.out.match(/: warning: /g)?.length).toBe(1);
    const same = await validate(
      file(hl('a', { subnet: '10.7.0.0/24' }, '/d')),
      file(hl('a', { subnet: '10.7.0.0/24' }, '/d')),
    );
    expect(same.out).not.toMatch(/: warning: /);
  });
});
