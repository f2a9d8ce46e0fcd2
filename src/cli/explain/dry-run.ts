/**
 * The dry run behind `manifold explain`: the attachments ADD would make, computed with the
 * meta-plugin's own functions — config (parseMetaConf), delegate list and order
 * (delegatesFromConfig), interface names (assignIfnames), each delegate's runtime view
 * (runtimeFor: CNI_ARGS, capability arguments, search path), each plugin's config as libcni
 * semantics build it (pluginConfig, prevResult chained), the merged result (mergeResults) —
 * and, per plugin, the plugin's own dry run (its explainer, from the registry). Built-ins run
 * in-process, anything else is looked up in the search path and said to be executed; what an
 * executed plugin would return is known only at ADD (`complete: false`). Nothing is created,
 * no address reserved: the explainers only read.
 */
import { CniError, q } from '../../cni/errors.ts';
import type { ExplainContext, Forecast } from '../../cni/explain.ts';
import type { PluginContext } from '../../cni/plugin.ts';
import { decodeResult, encodeResult, type Result } from '../../cni/result.ts';
import { findPlugin } from '../../invoke/exec.ts';
import { type Network, pluginConfig, type RuntimeConf } from '../../invoke/network.ts';
import { runtimeFor, wrap } from '../../meta/attachment.ts';
import type { MetaConf } from '../../meta/config.ts';
import { assignIfnames, type Delegate } from '../../meta/delegates.ts';
import { mergeResults } from '../../meta/merge.ts';
import type { CliBuiltins } from '../common/builtins.ts';
import type { PluginView } from '../common/findings.ts';
import { readNode } from '../common/node.ts';
import { risks } from '../common/risks.ts';
import type { AttachmentForecast, ExplainRequest, Explanation, PluginPlan } from './explanation.ts';
import { withMultihoming } from './multihome.ts';

function where(type: string, searchPath: readonly string[]): string {
  try {
    return `executed: ${findPlugin(type, searchPath)}`;
  } catch {
    return `executed from the search path, but not found in [${searchPath.join(' ')}]: ADD would fail`;
  }
}

class DryRun {
  readonly state = new Map<string, unknown>();
  /** Every plugin config of the dry run, for the risk checks. */
  readonly views: PluginView[] = [];
  readonly builtins: CliBuiltins;
  readonly req: ExplainRequest;

  constructor(builtins: CliBuiltins, req: ExplainRequest) {
    this.builtins = builtins;
    this.req = req;
  }

  /** One plugin's forecast (its IPAM's through ctx.ipam). */
  async plugin(
    conf: Record<string, unknown>,
    rt: RuntimeConf,
    cniVersion: string,
    prev: Result | undefined,
  ): Promise<{ plan: PluginPlan; forecast: Forecast }> {
    const type = String(conf.type);
    const b = this.builtins.get(type);
    this.views.push({ where: rt.ifname, path: '', network: String(conf.name), type, raw: conf });
    const cniArgs = new Map(rt.args.map(([k, v]) => [k, v] as [string, string]));
    const ipamNotes: string[] = [];
    const ctx: ExplainContext = {
      containerId: rt.containerId,
      netns: rt.netns,
      ifname: rt.ifname,
      cniArgs,
      cniVersion,
      raw: conf,
      ...(prev ? { prevResult: prev } : {}),
      env: this.req.env,
      dryRun: this.state,
      ipam: async () => {
        const ipam = conf.ipam as { type?: unknown } | undefined;
        const it = typeof ipam?.type === 'string' && ipam.type !== '' ? ipam.type : undefined;
        if (!it) return undefined;
        const ib = this.builtins.get(it);
        if (ib?.role === 'ipam' && ib.explain) {
          ipamNotes.push(`IPAM ${it}: in-process`);
          return (await ib.explain()).explain(ctx);
        }
        ipamNotes.push(`IPAM ${it}: ${where(it, rt.searchPath)}`);
        return {
          result: { cniVersion, ips: [] },
          notes: [`the addresses are ${it}'s to choose: known only at ADD`],
          complete: false,
        };
      },
    };
    if (b && b.role !== 'meta' && b.explain) {
      const forecast = await (await b.explain()).explain(ctx);
      return { plan: { type, runs: 'in-process', notes: [...ipamNotes, ...forecast.notes] }, forecast };
    }
    const forecast: Forecast = {
      result: prev ?? { cniVersion },
      notes: [
        `what it adds to the result is known only at ADD${prev ? " (shown: the previous plugin's result)" : ''}`,
      ],
      complete: false,
    };
    return { plan: { type, runs: where(type, rt.searchPath), notes: forecast.notes }, forecast };
  }

  /** A network (conf or conflist) run as addNetwork runs it: plugins in order, each one's result the next one's prevResult. */
  async network(
    net: Network,
    rt: RuntimeConf,
  ): Promise<Omit<AttachmentForecast, 'source' | 'master' | 'defaultRoute'>> {
    let prev: Result | undefined;
    const plugins: PluginPlan[] = [];
    let sources: readonly string[] = [];
    let complete = true;
    for (const plugin of net.plugins) {
      const conf = pluginConfig(net, plugin, rt, prev);
      const { plan, forecast } = await this.plugin(conf, rt, net.cniVersion, prev);
      plugins.push(plan);
      if (forecast.sources) sources = forecast.sources;
      complete &&= forecast.complete;
      // as the result a plugin prints is read back (a built-in's printed in the network's version)
      prev = decodeResult(encodeResult(forecast.result, net.cniVersion), net.cniVersion);
    }
    return {
      ifname: rt.ifname,
      network: net.name,
      cniVersion: net.cniVersion,
      plugins,
      result: prev ?? { cniVersion: net.cniVersion },
      sources,
      complete,
    };
  }
}

/**
 * What libcni injects into the meta-plugin's config: `runtimeConfig` made of the capability
 * arguments it declares in `capabilities` (replacing any runtimeConfig of the file).
 */
/** The risk warnings of the attachments together, as one line each. */
function warningsOf(views: readonly PluginView[]): string[] {
  return risks(views, readNode()).map((f) => `${f.where}: ${f.path || 'config'}: ${f.message}`);
}

function injectedRuntimeConfig(
  conf: MetaConf,
  capArgs: Readonly<Record<string, unknown>>,
): { runtimeConfig?: Record<string, unknown> } {
  const caps = (conf.capabilities ?? {}) as Record<string, unknown>;
  const rc = Object.fromEntries(Object.entries(capArgs).filter(([k]) => caps[k] === true));
  if (Object.keys(rc).length > 0) return { runtimeConfig: rc };
  return conf.runtimeConfig ? { runtimeConfig: { ...conf.runtimeConfig } } : {};
}

function metaCtx(builtins: CliBuiltins, conf: MetaConf, req: ExplainRequest): PluginContext<MetaConf> {
  return {
    command: 'ADD',
    containerId: req.containerId,
    netns: req.netns,
    ifname: req.ifname,
    cniArgs: new Map(req.cniArgs.map(([k, v]) => [k, v] as [string, string])),
    path: req.cniPath,
    env: req.env,
    conf: { ...conf, ...injectedRuntimeConfig(conf, req.capArgs) },
    raw: {},
    cniVersion: conf.effectiveVersion,
    invoker: builtins.invoker(),
  };
}

/** The dry run of a meta-plugin config whose delegates are `delegates` (master first). */
export async function explainMeta(
  builtins: CliBuiltins,
  conf: MetaConf,
  delegates: readonly Delegate[],
  req: ExplainRequest,
  notes: readonly string[] = [],
): Promise<Explanation> {
  const ifnames = assignIfnames(delegates, req.ifname);
  const ctx = metaCtx(builtins, conf, req);
  const dry = new DryRun(builtins, req);
  const attachments: AttachmentForecast[] = [];
  for (const [i, delegate] of delegates.entries()) {
    const a = { delegate, ifname: ifnames[i] as string, result: undefined };
    try {
      const plan = await dry.network(delegate.network, runtimeFor(ctx, a));
      attachments.push({
        ...plan,
        source: delegate.source,
        master: delegate.master,
        defaultRoute: delegate.defaultRoute,
      });
    } catch (err) {
      throw wrap(delegate, '', err);
    }
  }
  // as ADD: multi-homing plans from the delegates' results before they are merged
  const mh = withMultihoming(conf, delegates, attachments);
  const result = mergeResults(
    mh.plans.map((a) => ({ result: a.result, master: a.master, defaultRoute: a.defaultRoute })),
    conf.effectiveVersion,
  );
  return {
    network: conf.name,
    type: 'manifold',
    cniVersion: conf.effectiveVersion,
    attachments: mh.plans,
    result,
    notes: [...notes, ...mh.notes],
    warnings: warningsOf(dry.views),
    complete: attachments.every((a) => a.complete),
  };
}

/** The dry run of a plain network (a conf, conflist or NAD's config) attached at CNI_IFNAME, as a runtime would. */
export async function explainNetwork(
  builtins: CliBuiltins,
  net: Network,
  source: string,
  req: ExplainRequest,
  notes: readonly string[] = [],
): Promise<Explanation> {
  const rt: RuntimeConf = {
    containerId: req.containerId,
    netns: req.netns,
    ifname: req.ifname,
    args: req.cniArgs,
    capabilityArgs: req.capArgs,
    searchPath: req.cniPath,
    env: req.env,
  };
  const dry = new DryRun(builtins, req);
  let plan: Omit<AttachmentForecast, 'source' | 'master' | 'defaultRoute'>;
  try {
    plan = await dry.network(net, rt);
  } catch (err) {
    const types = net.plugins.map((p) => String(p.type)).join(', ');
    if (err instanceof CniError)
      throw new CniError(err.code, `network ${q(net.name)} (${types}): ${err.message}`, err.details);
    throw err;
  }
  const attachment = { ...plan, source, master: true, defaultRoute: false };
  return {
    network: net.name,
    type: net.plugins.map((p) => String(p.type)).join(', '),
    cniVersion: net.cniVersion,
    attachments: [attachment],
    result: plan.result,
    notes,
    warnings: warningsOf(dry.views),
    complete: plan.complete,
  };
}
