/**
 * The one list of manifold's built-in plugins, at the composition root: the executable
 * dispatches on these names, the meta-plugin and the IPAM client run them in-process through
 * the invoker made here, build.sh links each name to the executable, the build's warm-up and
 * the examples test walk them, `manifold explain` asks each for its dry run. Each loader is a
 * lazy import: a call loads only what it runs.
 */
import type { ExplainerLoader } from './cni/explain.ts';
import type { Invoker, PluginLoader } from './cni/plugin.ts';
import type { HostRoot } from './invoke/exec.ts';
import { createInvoker } from './invoke/invoker.ts';

/** meta: the meta-plugin; link: makes the pod's interface; ipam: hands out addresses. */
export type Role = 'meta' | 'link' | 'ipam';

export interface Builtin {
  readonly role: Role;
  readonly load: PluginLoader;
  /** Its dry run for `manifold explain` (plugins/<type>/explain.ts), loaded only by that command. */
  readonly explain?: ExplainerLoader;
}

const BUILTINS: Readonly<Record<string, Builtin>> = {
  manifold: {
    role: 'meta',
    load: async () => (await import(/* webpackMode: "eager" */ './meta/manifold.ts')).plugin,
  },
  macvlan: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/macvlan/macvlan.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/macvlan/explain.ts')).explainer,
  },
  ipvlan: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/ipvlan/ipvlan.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/ipvlan/explain.ts')).explainer,
  },
  bridge: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/bridge/bridge.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/bridge/explain.ts')).explainer,
  },
  vxlan: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/vxlan/vxlan.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/vxlan/explain.ts')).explainer,
  },
  tunnel: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/tunnel/tunnel.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/tunnel/explain.ts')).explainer,
  },
  sriov: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/sriov/sriov.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/sriov/explain.ts')).explainer,
  },
  'host-local': {
    role: 'ipam',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/host-local/host-local.ts')).plugin,
    explain: async () =>
      (await import(/* webpackMode: "eager" */ '../plugins/host-local/explain.ts')).explainer,
  },
  static: {
    role: 'ipam',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/static/static.ts')).plugin,
    explain: async () => (await import(/* webpackMode: "eager" */ '../plugins/static/explain.ts')).explainer,
  },
};

/** The plugin the executable runs under any name that is not another built-in's. */
export const META_TYPE = 'manifold';

export function builtin(type: string): Builtin | undefined {
  return Object.hasOwn(BUILTINS, type) ? BUILTINS[type] : undefined;
}

export function loaderFor(type: string): PluginLoader | undefined {
  return builtin(type)?.load;
}

/** The built-in types, in registry order; with `roles`, only those. */
export function builtinTypes(...roles: Role[]): string[] {
  return Object.keys(BUILTINS).filter((t) => roles.length === 0 || roles.includes(BUILTINS[t]?.role as Role));
}

let shared: Invoker | undefined;

const IN_PROCESS = {
  inProcess: (type: string) => {
    const b = builtin(type);
    return b && b.role !== 'meta' ? b.load : undefined;
  },
  ipam: (type: string) => {
    const b = builtin(type);
    return b?.role === 'ipam' ? b.load : undefined;
  },
};

/**
 * The invoker every call gets: link and IPAM built-ins run in-process, anything else is
 * executed — the meta-plugin too, so one manifold never runs another inside itself. With
 * `root` (a daemon in a container), executed plugins run inside the node's root.
 */
export function invoker(root?: HostRoot): Invoker {
  if (root) return createInvoker(IN_PROCESS, 0, root);
  shared ??= createInvoker(IN_PROCESS);
  return shared;
}
