/**
 * The structured log of a real meta-plugin ADD: one JSON line per event, each carrying the
 * verb and container id, the delegate and its interface for what runs inside a delegate, and
 * every step's duration in ms (netns open, link create, IPAM, addresses, routes); the text
 * form; and secrets planted in CNI_ARGS, in the config and in a kubeconfig never appear in the
 * log, though the debug log quotes CNI_ARGS and the config and the Kubernetes call fails.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ip, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-log-int-');
const meta = builtinLoader('manifold');

beforeAll(() => {
  ip('link', 'add', 'lg0', 'type', 'veth', 'peer', 'name', 'lg0p');
  ip('link', 'set', 'lg0', 'up');
});

const delegates = [
  {
    cniVersion: '1.0.0',
    name: 'mv',
    type: 'macvlan',
    master: 'lg0',
    ipam: {
      type: 'host-local',
      dataDir: join(tmp, 'ipam'),
      subnet: '10.90.0.0/24',
      routes: [{ dst: '10.190.0.0/16' }],
    },
  },
  {
    cniVersion: '1.0.0',
    name: 'st',
    type: 'macvlan',
    master: 'lg0',
    ipam: { type: 'static', addresses: [{ address: '10.91.0.5/24' }] },
  },
];

async function add(conf: object, containerId: string, args = '') {
  const pod = newNetns();
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: containerId,
    CNI_NETNS: pod.path,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: args,
  };
  const r = await runWith(meta, env, JSON.stringify(conf), 'manifold');
  const del = await runWith(meta, { ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(conf), 'manifold');
  return { r, del };
}

describe('the structured log', () => {
  it('one JSON line per event with the context and the step durations', async () => {
    const logFile = join(tmp, 'json.log');
    const { r } = await add(
      {
        cniVersion: '1.1.0',
        name: 'pod',
        type: 'manifold',
        cniDir: join(tmp, 'c1'),
        logFile,
        logLevel: 'verbose',
        delegates,
      },
      'log-c1',
    );
    expect(r.code, r.stdout).toBe(0);
    const lines = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines)
      expect(l).toMatchObject({
        plugin: 'manifold',
        verb: expect.stringMatching(/^(ADD|DEL)$/),
        containerId: 'log-c1',
      });
    const steps = lines.filter((l) => l.verb === 'ADD' && typeof l.step === 'string');
    for (const [delegate, ifname] of [
      ['mv (macvlan)', 'eth0'],
      ['st (macvlan)', 'net1'],
    ]) {
      const mine = steps.filter((l) => l.delegate === delegate);
      expect(mine.map((l) => l.step)).toEqual(['netns open', 'link create', 'IPAM', 'addresses', 'routes']);
      for (const l of mine) {
        expect(l.ifname).toBe(ifname);
        expect(typeof l.ms).toBe('number');
      }
    }
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        verb: 'ADD',
        delegate: 'st (macvlan)',
        ifname: 'net1',
        ms: expect.any(Number),
        msg: expect.stringMatching(/attached as net1 in/),
      }),
    );
  });

  it('text for people (logFormat text)', async () => {
    const logFile = join(tmp, 'text.log');
    const { r } = await add(
      {
        cniVersion: '1.1.0',
        name: 'pod',
        type: 'manifold',
        cniDir: join(tmp, 'c2'),
        logFile,
        logLevel: 'verbose',
        logFormat: 'text',
        delegates,
      },
      'log-c2',
    );
    expect(r.code, r.stdout).toBe(0);
    const text = readFileSync(logFile, 'utf8');
    expect(text).toMatch(
      /^\S+Z \[verbose\] manifold\[\d+\] ADD log-c2\/eth0 \[mv \(macvlan\)\]: link create: macvlan on master "lg0" {2}step="link create" ms=/m,
    );
    expect(text).not.toMatch(/^\{/m);
  });

  it('never a secret: CNI_ARGS, the config, a kubeconfig', async () => {
    const kubeconfig = join(tmp, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: kubeconfig-token-SECRET-1, password: kubeconfig-password-SECRET-2, client-key-data: a3ViZWNvbmZpZy1rZXktU0VDUkVULTM=}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const logFile = join(tmp, 'secrets.log');
    const conf = {
      cniVersion: '1.1.0',
      name: 'pod',
      type: 'manifold',
      cniDir: join(tmp, 'c3'),
      kubeconfig,
      kubeApiTimeoutSeconds: 0.5,
      logFile,
      logLevel: 'debug',
      delegates: [
        {
          ...delegates[0],
          args: { cni: { token: 'config-token-SECRET-4' } },
          password: 'config-password-SECRET-5',
        },
      ],
    };
    const args =
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;API_TOKEN=cni-args-SECRET-6;DB_PASSWORD=cni-args-SECRET-7';
    const { r } = await add(conf, 'log-c3', args);
    expect(r.code).toBe(1); // the kubeconfig is refused: nothing attached
    const log = readFileSync(logFile, 'utf8');
    // the debug log quotes CNI_ARGS and the config (the secrets' way in), and the failed call
    expect(log).toContain('K8S_POD_NAME=web');
    expect(log).toContain('API_TOKEN=[redacted]');
    expect(log).toContain('\\"password\\":\\"[redacted]\\"'); // the config, quoted in a JSON string
    expect(log).toMatch(/ADD failed: /);
    expect(log).not.toMatch(/SECRET/);
    expect(log).not.toContain('a3ViZWNvbmZpZy1rZXktU0VDUkVULTM=');
  });
});
