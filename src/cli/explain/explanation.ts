/**
 * What `manifold explain` answers, apart from how it is computed (dry-run.ts) and shown
 * (render.ts): the request (the runtime's view of the call), each attachment's forecast with
 * its plugins, and the whole explanation of a network.
 */
import type { Env } from '../../cni/plugin.ts';
import type { Result } from '../../cni/result.ts';

export interface ExplainRequest {
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly cniArgs: readonly (readonly [string, string])[];
  /** The runtime's capability arguments (CAP_ARGS). */
  readonly capArgs: Readonly<Record<string, unknown>>;
  readonly cniPath: readonly string[];
  readonly env: Env;
}

export interface PluginPlan {
  readonly type: string;
  /** `in-process`, or the executable found in the search path, or `not found in …`. */
  readonly runs: string;
  readonly notes: readonly string[];
}

/** One attachment as the dry run forecasts it: its network, plugins and result. */
export interface AttachmentForecast {
  readonly ifname: string;
  readonly network: string;
  readonly cniVersion: string;
  readonly source: string;
  readonly master: boolean;
  readonly defaultRoute: boolean;
  readonly plugins: readonly PluginPlan[];
  /** The network's result, as ADD of this network would return it. */
  readonly result: Result;
  /** Where each address comes from. */
  readonly sources: readonly string[];
  readonly complete: boolean;
}

export interface Explanation {
  readonly network: string;
  readonly type: string;
  readonly cniVersion: string;
  readonly attachments: readonly AttachmentForecast[];
  /** The result ADD would print (the merged one for the meta-plugin). */
  readonly result: Result;
  readonly notes: readonly string[];
  /** What validate would warn about these attachments together (a master carrying macvlan and ipvlan…). */
  readonly warnings: readonly string[];
  readonly complete: boolean;
}
