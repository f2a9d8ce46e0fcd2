// @ts-check
'use strict';
// Build step helper for make-cache.cjs: a training run of real CNI calls, so the V8 code cache
// holds the functions real calls compile (kernel requests, host-local's store, the meta
// plugin's ADD, CHECK, DEL and STATUS: ~140 KB of code warm() cannot reach without a kernel), which
// every call would otherwise compile on its own (~8-10 ms of an ADD here).
//
// Needs root and iproute2; anything else (or MANIFOLD_NO_TRAINING=1) skips it and the cache
// holds warm()'s code only. Everything happens in throwaway network namespaces (a "host" one
// this thread enters, with a veth as the macvlan master, and a pod one) and a temp directory,
// all removed afterwards; the machine's own interfaces are never touched.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CLONE_NEWNET = 0x40000000;

/**
 * The bundle's `trainingCall` export (src/main.ts): one CNI call of the plugin `name`.
 * @typedef {(name: string, env: Record<string, string>, stdin: string) => Promise<{ code: number, stdout: string }>} TrainingCall
 */

/** Why there can be no training run here, or undefined when there can. */
function cannotTrain() {
  if (process.env.MANIFOLD_NO_TRAINING) return 'MANIFOLD_NO_TRAINING is set';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'no iproute2';
  }
  return undefined;
}

/**
 * Runs the calls through the bundle's `trainingCall` export. `addon` is the real native addon
 * (the bundle loads the same one for its calls). Throws when a call fails.
 * @param {{ trainingCall: TrainingCall }} bundle
 * @param {{ setns: (fd: number, nstype: number) => void }} addon
 */
async function train(bundle, addon) {
  const suffix = Math.random().toString(16).slice(2, 8);
  const hostNs = `mftrainh${suffix}`;
  const podNs = `mftrainp${suffix}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'manifold-train-'));
  /** @param {string[]} args */
  const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const home = fs.openSync('/proc/thread-self/ns/net', 'r');
  let entered = false;
  try {
    ip('netns', 'add', hostNs);
    ip('netns', 'add', podNs);
    const fd = fs.openSync(`/run/netns/${hostNs}`, 'r');
    addon.setns(fd, CLONE_NEWNET);
    entered = true;
    fs.closeSync(fd);
    // spawned from this thread, so they run in the "host" namespace
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', 'tr0', 'type', 'veth', 'peer', 'name', 'tr0p');
    ip('link', 'set', 'tr0', 'up');
    ip('link', 'set', 'tr0p', 'up');
    /** @param {number} i */
    const net = (i) => ({
      cniVersion: '1.0.0',
      name: `train-${i}`,
      type: 'macvlan',
      master: 'tr0',
      mode: 'bridge',
      ipam: {
        type: 'host-local',
        dataDir: path.join(work, 'ipam'),
        ranges: [[{ subnet: `10.${200 + i}.0.0/24` }]],
        routes: [{ dst: '0.0.0.0/0' }],
      },
    });
    const meta = {
      cniVersion: '1.0.0',
      name: 'train',
      type: 'manifold',
      cniDir: path.join(work, 'cache'),
      delegates: [net(0), net(1)],
    };
    /** @param {string} command @param {string} containerId @param {string} ifname */
    const env = (command, containerId, ifname) => ({
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/run/netns/${podNs}`,
      CNI_IFNAME: ifname,
      CNI_PATH: work,
      PATH: process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin',
    });
    /** @param {string} name @param {Record<string, string>} e @param {object} conf */
    const call = async (name, e, conf) => {
      const r = await bundle.trainingCall(name, e, JSON.stringify(conf));
      if (r.code !== 0) throw new Error(`${name} ${e.CNI_COMMAND} failed: ${r.stdout.trim()}`);
      return r.stdout;
    };
    const added = await call('manifold', env('ADD', 'train1', 'eth0'), meta);
    await call('manifold', env('CHECK', 'train1', 'eth0'), { ...meta, prevResult: JSON.parse(added) });
    await call('manifold', env('DEL', 'train1', 'eth0'), meta);
    // STATUS, which containerd asks every 5 s (1.1.0 configs: the delegates answer it too)
    const v11 = { ...meta, cniVersion: '1.1.0', delegates: [{ ...net(0), cniVersion: '1.1.0' }] };
    await call('manifold', env('STATUS', 'train1', 'eth0'), v11);
    // a built-in as its own executable (`dist/bin/macvlan`)
    await call('macvlan', env('ADD', 'train2', 'net9'), net(2));
    await call('macvlan', env('DEL', 'train2', 'net9'), net(2));
  } finally {
    if (entered) addon.setns(home, CLONE_NEWNET);
    fs.closeSync(home);
    for (const ns of [podNs, hostNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

module.exports = { cannotTrain, train };
