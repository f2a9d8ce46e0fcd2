/**
 * A scripted `Invoker` (src/cni/plugin.ts) for unit tests of code that runs other plugins —
 * the meta-plugin's delegates, a network's chain, an IPAM client — without a process, a
 * binary or a kernel. As libcni's fake exec and Multus's newFakeExec: per plugin type a
 * scripted outcome per verb (a result, a CniError, nothing), optionally per call number;
 * `inProcess(type)` and `ipam(type)` answer as configured; every call is recorded with what
 * the plugin would have seen (verb, type, CNI_IFNAME, CNI_CONTAINERID, CNI_ARGS, the config
 * with its runtimeConfig and prevResult).
 *
 * A type nobody scripted is not installed: its calls fail as exec's do
 * (`PluginNotFoundError`, `failed to find plugin "x" in path [...]`), and are recorded too.
 */
import { CniError, Code } from '../../src/cni/errors.ts';
import type { Env, InvokeRequest, Invoker, Plugin, Verb } from '../../src/cni/plugin.ts';
import { PluginNotFoundError } from '../../src/invoke/exec.ts';

/** What a plugin prints (a decoded result, or undefined for nothing), or the CNI error it fails with. */
export type Outcome = Readonly<Record<string, unknown>> | CniError | undefined;

/** An outcome, or one computed from the call (e.g. a result naming the call's CNI_IFNAME). */
export type Answer = Outcome | ((call: FakeCall) => Outcome);

export interface PluginScript {
  /** `inProcess(type)`: a built-in, run in-process (default false: executed). */
  readonly inProcess?: boolean;
  /** What `ipam(type)` hands back (a built-in IPAM plugin); default undefined. */
  readonly ipam?: Plugin<unknown>;
  /**
   * Per verb, every call's answer. Default: ADD passes its prevResult on (or answers an
   * empty result of the config's cniVersion); the other verbs succeed and print nothing.
   */
  readonly answers?: Partial<Record<Verb, Answer>>;
}

/** One call as the plugin saw it. */
export interface FakeCall {
  readonly verb: Verb;
  readonly type: string;
  /** 1-based: the how-many-th call of this verb on this type. */
  readonly n: number;
  readonly ifname: string | undefined;
  readonly containerId: string | undefined;
  readonly netns: string | undefined;
  /** CNI_ARGS as passed (`K=V;K2=V2`). */
  readonly args: string | undefined;
  readonly env: Env;
  /** The config on its stdin (a copy). */
  readonly conf: Readonly<Record<string, unknown>>;
  readonly runtimeConfig: Readonly<Record<string, unknown>> | undefined;
  readonly prevResult: Readonly<Record<string, unknown>> | undefined;
  readonly asIpam: boolean;
  readonly exec: boolean;
  /** How it ended. */
  outcome?: 'ok' | CniError;
}

export class FakeInvoker implements Invoker {
  readonly calls: FakeCall[] = [];
  readonly #scripts = new Map<string, PluginScript>();
  /** Per type and verb, per call number: answers that override the verb's. */
  readonly #nth = new Map<string, Answer>();

  constructor(scripts: Record<string, PluginScript> = {}) {
    for (const [type, s] of Object.entries(scripts)) this.#scripts.set(type, s);
  }

  /** Adds (or replaces) the script of a type. */
  plugin(type: string, script: PluginScript = {}): this {
    this.#scripts.set(type, script);
    return this;
  }

  /** `answer` for the `n`th call (1-based) of `verb` on `type` only; other calls keep the script's. */
  on(type: string, verb: Verb, answer: Answer, n: number): this {
    if (!this.#scripts.has(type)) this.#scripts.set(type, {});
    this.#nth.set(`${type}\0${verb}\0${n}`, answer);
    return this;
  }

  /** The calls of one verb (all verbs when omitted), in order. */
  of(verb?: Verb): FakeCall[] {
    return this.calls.filter((c) => verb === undefined || c.verb === verb);
  }

  /** `VERB type ifname` per call, in order: what a test compares a sequence against. */
  trace(verb?: Verb): string[] {
    return this.of(verb).map((c) => `${c.verb} ${c.type}${c.asIpam ? ' (ipam)' : ''} ${c.ifname ?? ''}`);
  }

  async invoke(req: InvokeRequest): Promise<unknown> {
    const n = this.calls.filter((c) => c.type === req.type && c.verb === req.command).length + 1;
    const conf = structuredClone(req.conf) as Record<string, unknown>;
    const call: FakeCall = {
      verb: req.command,
      type: req.type,
      n,
      ifname: req.env.CNI_IFNAME,
      containerId: req.env.CNI_CONTAINERID,
      netns: req.env.CNI_NETNS,
      args: req.env.CNI_ARGS,
      env: { ...req.env },
      conf,
      runtimeConfig: conf.runtimeConfig as Record<string, unknown> | undefined,
      prevResult: conf.prevResult as Record<string, unknown> | undefined,
      asIpam: req.asIpam === true,
      exec: req.exec === true,
    };
    this.calls.push(call);
    const script = this.#scripts.get(req.type);
    if (!script) {
      const e = new PluginNotFoundError(
        Code.Internal,
        `failed to find plugin ${JSON.stringify(req.type)} in path [${req.searchPath.join(' ')}]`,
      );
      call.outcome = e;
      throw e;
    }
    const nth = `${req.type}\0${req.command}\0${n}`;
    const answer = this.#nth.has(nth)
      ? this.#nth.get(nth)
      : script.answers && req.command in script.answers
        ? script.answers[req.command]
        : defaultAnswer(req.command);
    const out = typeof answer === 'function' ? answer(call) : answer;
    if (out instanceof CniError) {
      call.outcome = out;
      throw out;
    }
    call.outcome = 'ok';
    return out === undefined ? undefined : structuredClone(out);
  }

  async ipam(type: string): Promise<Plugin<unknown> | undefined> {
    return this.#scripts.get(type)?.ipam;
  }

  inProcess(type: string): boolean {
    return this.#scripts.get(type)?.inProcess === true;
  }
}

function defaultAnswer(verb: Verb): Answer {
  if (verb !== 'ADD') return undefined;
  return (call) => call.prevResult ?? { cniVersion: call.conf.cniVersion };
}

/** A 1.x result with one pod interface and its addresses (the first gateway per family given). */
export function podResult(
  ifname: string,
  netns: string,
  ips: readonly { address: string; gateway?: string }[],
  routes: readonly { dst: string; gw?: string }[] = [],
  cniVersion = '1.1.0',
): Record<string, unknown> {
  return {
    cniVersion,
    interfaces: [{ name: ifname, mac: '0a:58:00:00:00:01', sandbox: netns }],
    ips: ips.map((ip) => ({ ...ip, interface: 0 })),
    routes,
  };
}
