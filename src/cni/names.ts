/**
 * The naming rules of the CNI spec and the kernel: container ids and network names
 * (`[A-Za-z0-9][A-Za-z0-9_.-]*`), interface names (the kernel's dev_valid_name, in bytes), and
 * plugin types (a file name in the search path, never a path).
 */
import { CniError, Code, q } from './errors.ts';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A container id or network name the spec allows. */
export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

/** The most bytes an interface name may have (IFNAMSIZ minus the terminating NUL). */
export const IFNAME_MAX_BYTES = 15;

/** Why the kernel would refuse `name` as an interface name, or undefined when it is fine. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > IFNAME_MAX_BYTES) return `is longer than ${IFNAME_MAX_BYTES} bytes`;
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/:\s]/u.test(name)) return 'contains "/", ":" or white space';
  return undefined;
}

/** A plugin type names a file in the search path, never a path: no '/', '..' or NUL (code 7). */
export function checkPluginType(type: string, field = 'type'): void {
  if (type === '' || type.includes('/') || type.includes('..') || type.includes('\0')) {
    throw new CniError(
      Code.InvalidConfig,
      `${field}: invalid plugin type ${q(type)}: a type is a file name in CNI_PATH, without "/", ".." or NUL`,
    );
  }
}
