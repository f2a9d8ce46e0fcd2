/**
 * The IPAM named by a plugin's `ipam.type`: host-local and static run in-process (their
 * config is validated when the handle is made, before the plugin creates anything); any
 * other type is executed from CNI_PATH with the same environment and the whole config on
 * stdin, as the spec's IPAM delegation says.
 */
import { checkPluginType, execPlugin } from '../invoke/exec.ts';
import type { Verb } from '../skel/env.ts';
import { ResultSchema } from '../skel/netconf.ts';
import type { Attachment, PluginContext } from '../skel/plugin.ts';
import { decodeResult, type Result } from '../skel/result.ts';
import { parseWith } from '../skel/validate.ts';

/** What IPAM needs from the calling plugin's context. */
export type IpamCtx = Pick<
  PluginContext<unknown>,
  'containerId' | 'ifname' | 'cniArgs' | 'path' | 'env' | 'raw' | 'cniVersion' | 'prevResult' | 'netns'
> & { readonly validAttachments?: readonly Attachment[] | undefined };

export interface Ipam {
  readonly type: string;
  add(): Promise<Result>;
  del(): Promise<void>;
  check(): Promise<void>;
  status(): Promise<void>;
  gc(): Promise<void>;
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
  if (type === 'host-local') {
    const hl = await import(/* webpackMode: "eager" */ './host-local.ts');
    const conf = hl.loadHostLocal(raw, ctx.cniArgs);
    return {
      type,
      add: () => hl.hostLocalAdd(conf, ctx.containerId, ctx.ifname, ctx.cniVersion),
      del: () => hl.hostLocalDel(conf, ctx.containerId, ctx.ifname),
      check: () => hl.hostLocalCheck(conf, ctx.containerId, ctx.ifname),
      status: () => hl.hostLocalStatus(conf),
      gc: () => hl.hostLocalGc(conf, ctx.validAttachments ?? []),
    };
  }
  if (type === 'static') {
    const st = await import(/* webpackMode: "eager" */ './static.ts');
    const conf = st.loadStatic(raw, ctx.cniArgs);
    const none = async () => undefined;
    return {
      type,
      add: async () => st.staticAdd(conf, ctx.cniVersion),
      del: none,
      check: async () => st.staticCheck(conf, ctx.prevResult, ctx.ifname),
      status: none,
      gc: none,
    };
  }
  checkPluginType(type, 'ipam.type');
  const run = (command: Verb) =>
    execPlugin({
      type,
      command,
      path: ctx.path,
      env: ctx.env,
      overrides: {
        CNI_CONTAINERID: ctx.containerId,
        CNI_NETNS: ctx.netns,
        CNI_IFNAME: ctx.ifname,
        CNI_PATH: ctx.path.join(':'),
      },
      stdin: JSON.stringify(raw),
    });
  return {
    type,
    add: async () =>
      decodeResult(
        parseWith(ResultSchema, (await run('ADD')) ?? {}, `result of IPAM "${type}"`),
        ctx.cniVersion,
      ),
    del: async () => void (await run('DEL')),
    check: async () => void (await run('CHECK')),
    status: async () => {
      // STATUS is a 1.1.0 verb: an IPAM that does not speak 1.1.0 cannot answer it.
      const info = (await run('VERSION')) as { supportedVersions?: unknown } | undefined;
      if (Array.isArray(info?.supportedVersions) && info.supportedVersions.includes('1.1.0'))
        await run('STATUS');
    },
    gc: async () => void (await run('GC')),
  };
}
