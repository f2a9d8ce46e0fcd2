/** vxlan: not written yet (see its issue). Answers VERSION, validates the base config, refuses verbs. */
import { notBuilt } from '../../src/invoke/not-built.ts';

export const plugin = notBuilt('vxlan');
