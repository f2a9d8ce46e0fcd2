/**
 * The built-in plugin types and how to load each one. The executable dispatches on the name
 * it was invoked as; the meta-plugin runs these types in-process instead of executing them.
 * Each loader is a lazy import: a call loads only the plugin it runs.
 */
import type { Plugin, PluginLoader } from '../skel/plugin.ts';

export const META_TYPE = 'manifold';
const LOADERS: Record<string, PluginLoader> = {
  manifold: async () => (await import(/* webpackMode: "eager" */ '../meta/manifold.ts')).plugin as Plugin,
  macvlan: async () =>
    (await import(/* webpackMode: "eager" */ '../../plugins/macvlan/macvlan.ts')).plugin as Plugin,
  ipvlan: async () =>
    (await import(/* webpackMode: "eager" */ '../../plugins/ipvlan/ipvlan.ts')).plugin as Plugin,
  bridge: async () =>
    (await import(/* webpackMode: "eager" */ '../../plugins/bridge/bridge.ts')).plugin as Plugin,
  vxlan: async () =>
    (await import(/* webpackMode: "eager" */ '../../plugins/vxlan/vxlan.ts')).plugin as Plugin,
  sriov: async () =>
    (await import(/* webpackMode: "eager" */ '../../plugins/sriov/sriov.ts')).plugin as Plugin,
  'host-local': async () =>
    (await import(/* webpackMode: "eager" */ '../ipam/host-local.ts')).plugin as Plugin,
  static: async () => (await import(/* webpackMode: "eager" */ '../ipam/static.ts')).plugin as Plugin,
};

export function loaderFor(type: string): PluginLoader | undefined {
  return Object.hasOwn(LOADERS, type) ? LOADERS[type] : undefined;
}
