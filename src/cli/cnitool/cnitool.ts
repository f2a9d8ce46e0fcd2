/**
 * `manifold add|check|del|gc|status NETWORK NETNS`: cnitool's commands on the same
 * executable — the network found by name in NETCONFPATH, the environment read as cnitool
 * reads it (CNI_PATH, CNI_ARGS, CAP_ARGS, CNI_IFNAME), the container id derived from the
 * netns as cnitool derives it, and libcni's result cache written and read, so a runtime (or
 * cnitool) can CHECK and DEL what `manifold add` attached, and the other way round.
 */
import { IMPLICIT_VERSION } from '../../cni/versions.ts';
import { parseNetwork, type RuntimeConf } from '../../invoke/network.ts';
import { overrideLog } from '../../util/log.ts';
import type { CliIO, Command } from '../common/command.ts';
import { type FlagSpec, parseArgs, stringFlag } from '../common/flags.ts';
import { absoluteNetns, containerIdFor, DEFAULT_NETCONFPATH, readToolEnv } from '../common/tool-env.ts';
import { DEFAULT_CACHE_DIR } from './libcni-cache.ts';
import { loadConfList } from './netconf-path.ts';
import { type ToolCall, toolAdd, toolCheck, toolDel, toolGc, toolInvoker, toolStatus } from './run.ts';

type Verb = 'add' | 'check' | 'del' | 'gc' | 'status';

const LOG_FLAGS: Record<string, FlagSpec> = {
  'log-format': { kind: 'string', oneOf: ['json', 'text'] },
  'log-level': { kind: 'string', oneOf: ['error', 'info', 'verbose', 'debug'] },
};

const FLAGS: Record<Verb, Record<string, FlagSpec>> = {
  add: { ifname: { kind: 'string' }, 'cache-dir': { kind: 'string' }, ...LOG_FLAGS },
  check: { ifname: { kind: 'string' }, 'cache-dir': { kind: 'string' }, ...LOG_FLAGS },
  del: { ifname: { kind: 'string' }, 'cache-dir': { kind: 'string' }, ...LOG_FLAGS },
  gc: { 'cache-dir': { kind: 'string' }, ...LOG_FLAGS },
  status: { ...LOG_FLAGS },
};

function prepare(verb: Verb, args: readonly string[], io: CliIO): ToolCall {
  const netnsRequired = verb === 'add' || verb === 'check' || verb === 'del';
  const { flags, positional } = parseArgs(args, FLAGS[verb], {
    names: ['NETWORK', 'NETNS'],
    min: netnsRequired ? 2 : 1,
  });
  const level = stringFlag(flags, 'log-level');
  const format = stringFlag(flags, 'log-format');
  if (level || format) overrideLog(level ?? 'info', format, io.stderr);
  const env = readToolEnv(io.env, stringFlag(flags, 'ifname'));
  const [network, ns] = positional as [string, string | undefined];
  const list = loadConfList(env.netconfPath, network);
  const net = parseNetwork(list.raw, list.file, IMPLICIT_VERSION);
  const netns = ns === undefined ? '' : absoluteNetns(ns, io.cwd);
  const rt: RuntimeConf = {
    containerId: netns ? containerIdFor(netns) : '',
    netns,
    ifname: env.ifname,
    args: env.cniArgs,
    capabilityArgs: env.capArgs,
    searchPath: env.cniPath,
    env: io.env,
  };
  return { list, net, rt, cacheDir: stringFlag(flags, 'cache-dir') ?? DEFAULT_CACHE_DIR };
}

const ENV_HELP = `environment (as cnitool):
  NETCONFPATH  where NETWORK's config is looked up by name (default ${DEFAULT_NETCONFPATH}):
               *.conflist first, then *.conf and *.json
  CNI_PATH     where plugins are found (':'-separated); this executable's own names run in-process
  CNI_ARGS     K=V;K2=V2 for the plugins
  CAP_ARGS     capability arguments, a JSON object (passed to plugins that declare them)
  CNI_IFNAME   the interface name (default eth0)
The container id is cnitool's: "cnitool-" + 20 hex digits of the SHA-512 of NETNS's absolute path.`;

const LOG_HELP = `  --log-format json|text  log to stderr in this format (the config's logFile still gets its lines)
  --log-level LEVEL       error|info|verbose|debug (verbose: the duration of every step)`;

const CACHE_HELP = `  --cache-dir DIR         libcni's cache dir (default ${DEFAULT_CACHE_DIR}): the result goes to
                          DIR/results/NETWORK-CONTAINERID-IFNAME, where libcni runtimes look`;

function command(verb: Verb, help: string, run: (c: ToolCall, io: CliIO) => Promise<number>): Command {
  return {
    help,
    async run(args, io) {
      return run(prepare(verb, args, io), io);
    },
  };
}

const EXAMPLE_ENV = 'NETCONFPATH=conf.d-examples CNI_PATH=dist/bin';

export const addCommand = command(
  'add',
  `Attaches NETNS (a path, e.g. /run/netns/NAME from \`ip netns add NAME\`) to NETWORK as cnitool
does: every plugin of the network's list ADDed in order, the result printed, and cached where
libcni keeps it — so the runtime's libcni, or cnitool, can CHECK and DEL it later.

flags:
  --ifname NAME           the interface name (wins over CNI_IFNAME)
${CACHE_HELP}
${LOG_HELP}

${ENV_HELP}

examples (as root, after ./build.sh, from the repository):
  $ ip netns add demo
  $ ${EXAMPLE_ENV} manifold add macvlan-net /run/netns/demo
  $ ${EXAMPLE_ENV} manifold check macvlan-net /run/netns/demo
  $ ${EXAMPLE_ENV} manifold del macvlan-net /run/netns/demo
`,
  async (c, io) => {
    const printed = await toolAdd(toolInvoker(io), c);
    io.stdout(`${JSON.stringify(printed, null, 4)}\n`);
    return 0;
  },
);

export const checkCommand = command(
  'check',
  `CHECKs NETWORK's attachment of NETNS as cnitool does: every plugin, with the cached result of
the ADD (libcni's cache) as prevResult. Exit 0 when every plugin agrees with the kernel.

flags:
  --ifname NAME           the interface name (wins over CNI_IFNAME)
${CACHE_HELP}
${LOG_HELP}

${ENV_HELP}

example:
  $ ${EXAMPLE_ENV} manifold check macvlan-net /run/netns/demo
`,
  async (c, io) => {
    await toolCheck(toolInvoker(io), c);
    io.stderr(`manifold check: ${c.list.name} ${c.rt.ifname} in ${c.rt.netns}: ok\n`);
    return 0;
  },
);

export const delCommand = command(
  'del',
  `Detaches NETNS from NETWORK as cnitool does: every plugin DELeted in reverse, with the cached
result of the ADD as prevResult; the cache entry removed when all succeeded. Safe to repeat.

flags:
  --ifname NAME           the interface name (wins over CNI_IFNAME)
${CACHE_HELP}
${LOG_HELP}

${ENV_HELP}

example:
  $ ${EXAMPLE_ENV} manifold del macvlan-net /run/netns/demo
`,
  async (c, io) => {
    await toolDel(toolInvoker(io), c);
    io.stderr(`manifold del: ${c.list.name} ${c.rt.ifname} in ${c.rt.netns}: deleted\n`);
    return 0;
  },
);

export const gcCommand = command(
  'gc',
  `GC of NETWORK as cnitool does it: cnitool passes no valid attachments, so EVERY attachment of
NETWORK in libcni's cache is DELeted (as if no container used it any more), then — for
cniVersion 1.1.0 and later — each plugin's GC runs. NETNS is accepted and ignored, as by cnitool.
Use it to clean up a network by hand, not on a node whose runtime still uses it.

flags:
${CACHE_HELP}
${LOG_HELP}

${ENV_HELP}

example:
  $ ${EXAMPLE_ENV} manifold gc macvlan-net
`,
  async (c, io) => {
    const done = await toolGc(toolInvoker(io), c);
    io.stderr(
      `manifold gc: ${c.list.name}: ${done.length} cached attachment(s) deleted${done.length ? ` (${done.join(', ')})` : ''}\n`,
    );
    return 0;
  },
);

export const statusCommand = command(
  'status',
  `STATUS of NETWORK as cnitool does it: each plugin is asked whether it can serve ADD (from
cniVersion 1.1.0; older networks are not asked). Exit 0 when every plugin can, else the first
plugin's error (CNI code 50 or 51). NETNS is accepted and ignored.

flags:
${LOG_HELP}

${ENV_HELP}

example:
  $ ${EXAMPLE_ENV} manifold status macvlan-net
`,
  async (c, io) => {
    const r = await toolStatus(toolInvoker(io), c);
    io.stderr(
      `manifold status: ${c.list.name}: ${r === 'asked' ? 'ready' : `cniVersion ${c.net.cniVersion} has no STATUS: nothing asked`}\n`,
    );
    return 0;
  },
);
