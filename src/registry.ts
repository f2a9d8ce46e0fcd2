/**
 * The one list of manifold's built-in plugins, at the composition root: the executable
 * dispatches on these names, the meta-plugin and the IPAM client run them in-process through
 * the invoker made here, build.sh links each name to the executable, the build's warm-up and
 * the examples test walk them. Each loader is a lazy import: a call loads only what it runs.
 */
import type { Invoker, PluginLoader } from './cni/plugin.ts';
import { createInvoker } from './invoke/invoker.ts';

/** meta: the meta-plugin; link: makes the pod's interface; ipam: hands out addresses. */
export type Role = 'meta' | 'link' | 'ipam';

export interface Builtin {
  readonly role: Role;
  readonly load: PluginLoader;
}

const BUILTINS: Readonly<Record<string, Builtin>> = {
  manifold: {
    role: 'meta',
    load: async () => (await import(/* webpackMode: "eager" */ './meta/manifold.ts')).plugin,
  },
  macvlan: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/macvlan/macvlan.ts')).plugin,
  },
  ipvlan: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/ipvlan/ipvlan.ts')).plugin,
  },
  bridge: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/bridge/bridge.ts')).plugin,
  },
  vxlan: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/vxlan/vxlan.ts')).plugin,
  },
  sriov: {
    role: 'link',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/sriov/sriov.ts')).plugin,
  },
  'host-local': {
    role: 'ipam',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/host-local/host-local.ts')).plugin,
  },
  static: {
    role: 'ipam',
    load: async () => (await import(/* webpackMode: "eager" */ '../plugins/static/static.ts')).plugin,
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

/**
 * The invoker every call gets: link and IPAM built-ins run in-process, anything else is
 * executed — the meta-plugin too, so one manifold never runs another inside itself.
 */
export function invoker(): Invoker {
  shared ??= createInvoker({
    inProcess: (type) => {
      const b = builtin(type);
      return b && b.role !== 'meta' ? b.load : undefined;
    },
    ipam: (type) => {
      const b = builtin(type);
      return b?.role === 'ipam' ? b.load : undefined;
    },
  });
  return shared;
}
