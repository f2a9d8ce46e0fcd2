/**
 * The IPAM client: the IPAM named by a plugin's `ipam.type`, as the spec's IPAM delegation
 * says — the same environment and the whole config. A built-in IPAM (the invoker says which)
 * runs in-process and its config is validated when the handle is made, before the plugin
 * creates anything; any other type is run through the invoker, which executes it from
 * CNI_PATH.
 */
import { checkPluginType } from '../cni/names.ts';
import { ResultSchema } from '../cni/netconf.ts';
import type { PluginContext, ValidAttachment, Verb } from '../cni/plugin.ts';
import { decodeResult, type Result } from '../cni/result.ts';
import { parseWith } from '../cni/validate.ts';
import { log } from '../util/log.ts';

/** What IPAM needs from the calling plugin's context. */
export type IpamCtx = Pick<
  PluginContext<unknown>,
  | 'command'
  | 'containerId'
  | 'ifname'
  | 'cniArgs'
  | 'path'
  | 'env'
  | 'raw'
  | 'cniVersion'
  | 'netns'
  | 'invoker'
>;

export interface Ipam {
  readonly type: string;
  add(): Promise<Result>;
  del(): Promise<void>;
  /** `prev`: the result being checked (the calling plugin's prevResult). */
  check(prev: Result): Promise<void>;
  status(): Promise<void>;
  gc(valid: readonly ValidAttachment[]): Promise<void>;
}

export function ipamType(raw: Readonly<Record<string, unknown>>): string | undefined {
  const ipam = raw.ipam as { type?: unknown } | undefined;
  return ipam && typeof ipam.type === 'string' && ipam.type !== '' ? ipam.type : undefined;
}

/** The IPAM of this config, or undefined when it has none (an L2-only attachment). */
export async function openIpam(ctx: IpamCtx): Promise<Ipam | undefined> {
  const type = ipamType(ctx.raw);
  if (!type) return undefined;
  const raw = { ...ctx.raw };
  const builtin = await ctx.invoker.ipam(type);
  if (builtin) {
    const conf = builtin.parseConfig(raw, ctx.cniArgs);
    const call = (command: Verb) => ({ ...ctx, command, conf, raw });
    return {
      type,
      add: async () => {
        const done = log.step('IPAM', `${type} ADD (in-process)`);
        const r = await builtin.add(call('ADD'));
        done({ ips: (r.ips ?? []).map((ip) => ip.address).join(' ') });
        return r;
      },
      del: () => builtin.del(call('DEL')),
      check: (prevResult) => builtin.check({ ...call('CHECK'), prevResult }),
      status: () => builtin.status(call('STATUS')),
      gc: (validAttachments) => builtin.gc({ ...call('GC'), validAttachments }),
    };
  }
  checkPluginType(type, 'ipam.type');
  const run = (command: Verb, conf: Record<string, unknown> = raw) =>
    ctx.invoker.invoke({
      type,
      asIpam: true,
      command,
      searchPath: ctx.path,
      env: {
        ...ctx.env,
        CNI_CONTAINERID: ctx.containerId,
        CNI_NETNS: ctx.netns,
        CNI_IFNAME: ctx.ifname,
        CNI_PATH: ctx.path.join(':'),
      },
      conf,
    });
  return {
    type,
    add: async () => {
      const done = log.step('IPAM', `${type} ADD (executed)`);
      const r = decodeResult(
        parseWith(ResultSchema, (await run('ADD')) ?? {}, `result of IPAM "${type}"`),
        ctx.cniVersion,
      );
      done({ ips: (r.ips ?? []).map((ip) => ip.address).join(' ') });
      return r;
    },
    del: async () => void (await run('DEL')),
    check: async () => void (await run('CHECK')),
    status: async () => {
      // STATUS is a 1.1.0 verb: an IPAM that does not speak 1.1.0 cannot answer it.
      const info = (await run('VERSION')) as { supportedVersions?: unknown } | undefined;
      if (Array.isArray(info?.supportedVersions) && info.supportedVersions.includes('1.1.0'))
        await run('STATUS');
    },
    gc: async (validAttachments) =>
      void (await run('GC', { ...raw, 'cni.dev/valid-attachments': validAttachments })),
  };
}
