/**
 * Network namespace handles. Node cannot setns, so the native addon does it for the calling
 * (main) thread. `run` enters a namespace for one synchronous function and always returns:
 * sockets opened inside stay bound to that namespace for their lifetime, so everything else
 * (async netlink requests included) happens on such sockets from the host namespace.
 */
import { closeSync, constants, fstatSync, openSync, statfsSync } from 'node:fs';
import { CniError, Code, q } from '../cni/errors.ts';
import { setns } from '../native/index.cjs';
import { strerror } from './errors.ts';
import { CLONE_NEWNET } from './nl/constants.ts';

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/** CNI_NETNS names a path that does not exist (DEL treats this as done). */
export class NetnsMissingError extends CniError {
  readonly path: string;
  constructor(path: string) {
    super(Code.InvalidNetNS, `failed to open netns ${q(path)}: no such file or directory`);
    this.path = path;
  }
}

export class NetNS {
  readonly path: string;
  readonly fd: number;
  readonly ino: number;
  readonly dev: number;
  #closed = false;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
    const st = fstatSync(fd);
    this.ino = st.ino;
    this.dev = st.dev;
  }

  /** Opens and validates a network namespace path (a bind mount from `ip netns`, or /proc/<pid>/ns/net). */
  static open(path: string): NetNS {
    let type: number;
    try {
      type = statfsSync(path).type;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      if (code === 'ENOENT') throw new NetnsMissingError(path);
      throw new CniError(Code.InvalidNetNS, `failed to open netns ${q(path)}: ${strerror(code)}`);
    }
    if (type !== NSFS_MAGIC && type !== PROC_SUPER_MAGIC) {
      throw new CniError(Code.InvalidNetNS, `failed to open netns ${q(path)}: not a network namespace`);
    }
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      if (code === 'ENOENT') throw new NetnsMissingError(path);
      throw new CniError(Code.InvalidNetNS, `failed to open netns ${q(path)}: ${strerror(code)}`);
    }
    return new NetNS(path, fd);
  }

  /** The namespace the calling thread is in now (the host, outside of `run`). */
  static current(): NetNS {
    return new NetNS('/proc/thread-self/ns/net', openSync('/proc/thread-self/ns/net', constants.O_RDONLY));
  }

  /** Whether two handles name the same namespace. */
  same(other: NetNS): boolean {
    return this.ino === other.ino && this.dev === other.dev;
  }

  /**
   * Runs `fn` inside this namespace on the calling thread and returns to where it was, always.
   * `fn` must be synchronous: nothing may be left running inside the namespace.
   */
  run<T>(fn: () => T): T {
    const home = openSync('/proc/thread-self/ns/net', constants.O_RDONLY);
    try {
      try {
        setns(this.fd, CLONE_NEWNET);
      } catch (err) {
        throw new CniError(
          Code.InvalidNetNS,
          `failed to enter netns ${q(this.path)}: ${(err as Error).message}`,
        );
      }
      try {
        const r = fn();
        if (r instanceof Promise) throw new Error('NetNS.run needs a synchronous function');
        return r;
      } finally {
        try {
          setns(home, CLONE_NEWNET);
        } catch (err) {
          // Staying in the pod's namespace would send every later request to the wrong place.
          process.stderr.write(
            `manifold: fatal: cannot return to the host netns: ${(err as Error).message}\n`,
          );
          process.exit(70);
        }
      }
    } finally {
      closeSync(home);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
  }
}
