/**
 * The end of a CNI call's process: once the call is done and everything is written (the skel
 * writes stdout and the log synchronously), a process that used the kernel layer ends with
 * _exit(2) through the native addon, without Node's teardown of its environment and heap
 * (~1-2 ms per call); one that never loaded the addon (VERSION, the command line) exits the
 * ordinary way rather than load it to exit.
 */
import { exitNowIfLoaded } from '../native/index.cjs';

export function exitCall(code: number): never {
  exitNowIfLoaded(code);
  process.exit(code);
}
