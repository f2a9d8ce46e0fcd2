/** Moves the calling thread into the namespace open at `fd` (nstype: CLONE_NEW* or 0). */
export declare function setns(fd: number, nstype: number): void;
