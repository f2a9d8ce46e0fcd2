/** Moves the calling thread into the namespace open at `fd` (nstype: CLONE_NEW* or 0). */
export declare function setns(fd: number, nstype: number): void;
/** flock(2) on `fd` (LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8); false when LOCK_NB finds it held. */
export declare function flock(fd: number, op: number): boolean;
