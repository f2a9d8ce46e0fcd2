/**
 * The dry-run contract behind `manifold explain`: what a built-in plugin would do on ADD,
 * predicted without creating anything or reserving any address. Each built-in has its
 * explainer beside its code (plugins/<type>/explain.ts, listed in the registry), built on the
 * plugin's own config parser and rules, so the forecast and ADD cannot drift apart; the
 * meta-plugin's part (delegate order, interface names, the merged result) is the CLI's,
 * built on the meta-plugin's own functions.
 */
import type { Env } from './plugin.ts';
import type { DNS, Interface, IPConfig, Result, Route } from './result.ts';

/** A name only ADD decides (a veth's random host end): shown in angle brackets. */
export function decidedAtAdd(what: string): string {
  return `<${what}>`;
}

export function isDecidedAtAdd(name: string): boolean {
  return name.startsWith('<') && name.endsWith('>');
}

export interface ExplainContext {
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly cniArgs: ReadonlyMap<string, string>;
  /** The cniVersion the plugin is called with. */
  readonly cniVersion: string;
  /** The plugin's config exactly as the plugin would receive it (name, cniVersion, runtimeConfig injected). */
  readonly raw: Record<string, unknown>;
  /** The previous plugin's forecast result (chained plugins). */
  readonly prevResult?: Result;
  readonly env: Env;
  /** The forecast of the config's `ipam` (undefined: the config has no ipam). */
  ipam(): Promise<Forecast | undefined>;
  /** Pretend state shared by every explainer of one dry run (host-local's pretend reservations). */
  readonly dryRun: Map<string, unknown>;
}

export interface Forecast {
  /**
   * The result ADD would return. Names only ADD decides are `decidedAtAdd(...)`; MACs and
   * MTUs only the kernel decides are left out.
   */
  readonly result: Result;
  /** Decisions worth telling, one line each: mode, master, what is created or shared. */
  readonly notes: readonly string[];
  /** For each of `result.ips`, where its address comes from. */
  readonly sources?: readonly string[];
  /** False when part of the result is only known at ADD (an executed plugin or IPAM). */
  readonly complete: boolean;
}

export interface Explainer {
  explain(ctx: ExplainContext): Promise<Forecast>;
}

export type ExplainerLoader = () => Promise<Explainer>;

/** The IP part of a link plugin's forecast: IPAM's addresses on interface `ifIndex`, its routes, the DNS. */
export function podL3(
  ipam: Forecast | undefined,
  ifIndex: number,
  confDns: DNS | undefined,
): { ips: IPConfig[]; routes: Route[]; dns: DNS | undefined; notes: string[]; sources: string[] } {
  const r = ipam?.result;
  return {
    ips: (r?.ips ?? []).map((ip) => ({ ...ip, interface: ifIndex })),
    routes: (r?.routes ?? []).map((x) => ({ ...x })),
    dns: confDns ?? r?.dns,
    notes: [...(ipam?.notes ?? [])],
    sources: [...(ipam?.sources ?? [])],
  };
}

/** A link plugin's forecast: its interfaces, the IP part (podL3), its notes; complete unless IPAM is executed. */
export function linkForecast(
  ctx: Pick<ExplainContext, 'cniVersion'>,
  interfaces: Interface[],
  l3: ReturnType<typeof podL3>,
  ipam: Forecast | undefined,
  notes: readonly string[],
  sources: readonly string[] = l3.sources,
): Forecast {
  return {
    result: {
      cniVersion: ctx.cniVersion,
      interfaces,
      ips: l3.ips,
      routes: l3.routes,
      ...(l3.dns ? { dns: l3.dns } : {}),
    },
    notes,
    sources,
    complete: ipam?.complete ?? true,
  };
}
