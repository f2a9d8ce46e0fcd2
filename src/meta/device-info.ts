/**
 * Device information files (k8snetworkplumbingwg device-info-spec 1.1.0): the device plugin's
 * `<dir>/dp/<resource>-<deviceID>-device.json` is copied, before the delegate's ADD, to a
 * file unique per attachment, `<dir>/cni/<network>-<containerID>_<ifname>` (Multus's name),
 * which the delegate gets as capability `CNIDeviceInfoFile`; after ADD its content goes into
 * the pod's network-status; DEL removes it. A missing or broken file never fails a call.
 * In the core (no Kubernetes code): ADD, DEL and rollback copy and remove these files for
 * the attachments that have one; pods/ names them and reads them into the network-status.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../cni/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/log.ts';
import type { PodAttachment } from './pod-attachment.ts';

const flat = (s: string) => s.replaceAll('/', '-');

export function dpDeviceInfoPath(dir: string, resourceName: string, deviceID: string): string {
  return join(dir, 'dp', `${flat(resourceName)}-${flat(deviceID)}-device.json`);
}

export function cniDeviceInfoPath(dir: string, network: string, containerId: string, ifname: string): string {
  return join(dir, 'cni', flat(`${network}-${containerId}_${ifname}`));
}

function readJson(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.error(`cannot read ${path}: ${describeError(err)}`);
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  log.error(`ignoring ${path}: not a device-info JSON object`);
  return undefined;
}

/**
 * Copies the device plugin's file for this attachment (atomically), or writes the content
 * pods/ made for a DRA device; nothing when it has neither.
 */
export function prepareDeviceInfo(a: PodAttachment): void {
  if (!a.deviceInfoFile) return;
  const info = a.deviceInfoSource ? readJson(a.deviceInfoSource) : a.deviceInfoContent;
  if (!info) return;
  try {
    writeFileAtomic(a.deviceInfoFile, JSON.stringify(info), { mode: 0o444, dirMode: 0o755 });
  } catch (err) {
    log.error(`cannot write device-info file ${a.deviceInfoFile}: ${describeError(err)}`);
  }
}

/** The attachment's device information after its ADD (the copy, or what the delegate wrote). */
export function readDeviceInfo(a: PodAttachment): Record<string, unknown> | undefined {
  return a.deviceInfoFile ? readJson(a.deviceInfoFile) : undefined;
}

export function removeDeviceInfo(a: PodAttachment | undefined): void {
  if (!a?.deviceInfoFile) return;
  try {
    unlinkSync(a.deviceInfoFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.error(`cannot remove device-info file ${a.deviceInfoFile}: ${describeError(err)}`);
  }
}
