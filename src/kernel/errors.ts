/**
 * Kernel errors: an errno name carried with a message that reads like the kernel's
 * (strerror text, as Go and iproute2 print it), so callers can both test the errno and
 * show `failed to create macvlan on master "eth1": device or resource busy`.
 */
import { CniError, Code } from '../cni/errors.ts';

const STRERROR: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ESRCH: 'no such process',
  EINTR: 'interrupted system call',
  ENXIO: 'no such device or address',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'cannot allocate memory',
  EACCES: 'permission denied',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  ENODEV: 'no such device',
  ENOTDIR: 'not a directory',
  EINVAL: 'invalid argument',
  ENOSPC: 'no space left on device',
  ERANGE: 'numerical result out of range',
  EMSGSIZE: 'message too long',
  EPROTONOSUPPORT: 'protocol not supported',
  EOPNOTSUPP: 'operation not supported',
  EAFNOSUPPORT: 'address family not supported by protocol',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ENETUNREACH: 'network is unreachable',
  ENOBUFS: 'no buffer space available',
  EHOSTUNREACH: 'no route to host',
};

export function strerror(errno: string): string {
  const known = STRERROR[errno];
  if (known) return known;
  // node:os and node:util only for a rare errno: loading them costs every call ~0.5 ms
  const { constants } = process.getBuiltinModule('node:os');
  const n = (constants.errno as Record<string, number>)[errno];
  return n === undefined
    ? errno.toLowerCase()
    : process.getBuiltinModule('node:util').getSystemErrorMessage(-n);
}

/** A failed system call or netlink request. */
export class KernelError extends Error {
  readonly errno: string;
  constructor(errno: string, message = strerror(errno)) {
    super(message);
    this.name = 'KernelError';
    this.errno = errno;
  }
}

export function isErrno(err: unknown, ...names: string[]): boolean {
  const e = err as { errno?: unknown; code?: unknown; cause?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.errno === 'string' && names.includes(e.errno)) return true;
  if (typeof e.code === 'string' && names.includes(e.code)) return true;
  return e.cause !== undefined && e.cause !== err && isErrno(e.cause, ...names);
}

/** Converts a netlink package error ("Request rejected: EEXIST") or a Node errno error. */
export function toKernelError(err: unknown): KernelError | Error {
  if (err instanceof KernelError) return err;
  if (err instanceof Error) {
    const m = /Request rejected: (E[A-Z0-9]+)/.exec(err.message);
    if (m?.[1]) return new KernelError(canonicalErrno(m[1]));
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return new KernelError(canonicalErrno(code));
    return err;
  }
  return new Error(String(err));
}

/**
 * Linux has one number (95) for EOPNOTSUPP and ENOTSUP; Node names it ENOTSUP (libuv's text:
 * "operation not supported on socket"). A driver refusing something means EOPNOTSUPP,
 * "operation not supported", as iproute2 prints it.
 */
function canonicalErrno(name: string): string {
  return name === 'ENOTSUP' ? 'EOPNOTSUPP' : name;
}

/**
 * `failed to <what>: <kernel message>` as a CNI error; the errno stays reachable through
 * `cause` (isErrno looks there).
 */
export function kernelFailure(what: string, err: unknown, code: number = Code.Internal): CniError {
  const k = toKernelError(err);
  const text = k instanceof CniError ? k.describe() : k.message;
  return new CniError(code, `failed to ${what}: ${text}`, '', { cause: k });
}
