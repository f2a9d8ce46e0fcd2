import { CniError, Code } from '../skel/errors.ts';
import { NetConfSchema } from '../skel/netconf.ts';
import type { Plugin } from '../skel/plugin.ts';
import { parseWith } from '../skel/validate.ts';

/** A plugin whose code is not written yet: answers VERSION, validates, refuses every verb. */
export function notBuilt(type: string): Plugin<unknown> {
  const refuse = async (): Promise<never> => {
    throw new CniError(
      Code.Internal,
      `plugin ${JSON.stringify(type)} is not built yet in this version of manifold`,
    );
  };
  return {
    type,
    parseConfig: (raw) => parseWith(NetConfSchema, raw),
    add: refuse,
    del: refuse,
    check: refuse,
    status: refuse,
    gc: refuse,
  };
}
