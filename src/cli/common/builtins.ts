/**
 * What the command line needs of the built-in plugins, handed in by the composition root
 * (src/main.ts from src/registry.ts) so src/cli depends on no plugin: each built-in's role,
 * plugin (its parseConfig validates, as ADD does) and dry run, and the invoker a CNI call of
 * this executable gets.
 */
import type { ExplainerLoader } from '../../cni/explain.ts';
import type { Invoker, PluginLoader } from '../../cni/plugin.ts';
import type { HostRoot } from '../../invoke/exec.ts';

export interface CliBuiltin {
  readonly role: 'meta' | 'link' | 'ipam';
  readonly load: PluginLoader;
  readonly explain?: ExplainerLoader | undefined;
}

export interface CliBuiltins {
  /** The built-in of this CNI type, if it is one. */
  get(type: string): CliBuiltin | undefined;
  /** The type this executable runs as when invoked under `name` (a built-in's name, else the meta-plugin). */
  typeFor(name: string): string;
  /**
   * The invoker a CNI call of this executable gets (link and IPAM built-ins in-process); with
   * `root`, executed plugins run inside the node's root (`manifold daemon --host-root`).
   */
  invoker(root?: HostRoot): Invoker;
}
