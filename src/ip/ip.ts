/**
 * IP address and prefix arithmetic: parsing, canonical formatting (RFC 5952, as Go prints),
 * masking, containment and stepping. Pure functions over byte arrays and bigints.
 */

export type Family = 4 | 6;

export interface IP {
  readonly family: Family;
  /** 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

/** An address with a prefix length; the address may have host bits set (as in `10.0.0.5/24`). */
export interface IPNet {
  readonly ip: IP;
  readonly prefix: number;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): Uint8Array | undefined {
  const m = V4.exec(s);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1] ?? '';
    if (part.length > 1 && part.startsWith('0')) return undefined; // no octal-looking parts
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let head = s;
  let tail4: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (!tail4) return undefined;
    head = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0] ?? '');
  const right = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const total = left.length + right.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return undefined;
  const all = [...left, ...new Array<number>(8 - total).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

export function parseIP(s: string): IP | undefined {
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = s.includes(':') ? parseV6(s) : undefined;
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

export function parseCIDR(s: string): IPNet | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bits(ip.family)) return undefined;
  return { ip, prefix };
}

export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

export function formatIP(ip: IP): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatCIDR(n: IPNet): string {
  return `${formatIP(n.ip)}/${n.prefix}`;
}

export function toBigInt(ip: IP): bigint {
  let v = 0n;
  for (const byte of ip.bytes) v = (v << 8n) | BigInt(byte);
  return v;
}

export function fromBigInt(family: Family, v: bigint): IP {
  const len = family === 4 ? 4 : 16;
  const bytes = new Uint8Array(len);
  let x = v;
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return { family, bytes };
}

function maskBig(family: Family, prefix: number): bigint {
  const width = BigInt(bits(family));
  const host = width - BigInt(prefix);
  return ((1n << width) - 1n) ^ ((1n << host) - 1n);
}

/** The network of a prefix (host bits cleared). */
export function networkOf(n: IPNet): IPNet {
  return { ip: fromBigInt(n.ip.family, toBigInt(n.ip) & maskBig(n.ip.family, n.prefix)), prefix: n.prefix };
}

/** The last address of a prefix (broadcast for IPv4). */
export function lastOf(n: IPNet): IP {
  const mask = maskBig(n.ip.family, n.prefix);
  const all = (1n << BigInt(bits(n.ip.family))) - 1n;
  return fromBigInt(n.ip.family, (toBigInt(n.ip) & mask) | (all ^ mask));
}

export function contains(n: IPNet, ip: IP): boolean {
  if (n.ip.family !== ip.family) return false;
  const mask = maskBig(ip.family, n.prefix);
  return (toBigInt(n.ip) & mask) === (toBigInt(ip) & mask);
}

export function equalIP(a: IP, b: IP): boolean {
  return a.family === b.family && a.bytes.every((x, i) => x === b.bytes[i]);
}

export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  const d = toBigInt(a) - toBigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function addToIP(ip: IP, n: bigint): IP {
  return fromBigInt(ip.family, toBigInt(ip) + n);
}

/** Whether `s` is a valid CIDR with the host part zero (a network, as routes and subnets want). */
export function isNetwork(n: IPNet): boolean {
  return equalIP(networkOf(n).ip, n.ip);
}

/** The address family of an address or CIDR string, if it is one. */
export function familyOf(s: string): Family | undefined {
  return parseIP(s)?.family ?? parseCIDR(s)?.ip.family;
}
