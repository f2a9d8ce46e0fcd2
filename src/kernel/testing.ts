/**
 * For tests only: move the calling thread into `ns` for good (no return), so a test process
 * can play "the host" inside a namespace of its own.
 */
import { setns } from '../native/index.cjs';
import type { NetNS } from './netns.ts';
import { CLONE_NEWNET } from './nl/constants.ts';

export function setnsForTests(ns: NetNS): void {
  setns(ns.fd, CLONE_NEWNET);
}
