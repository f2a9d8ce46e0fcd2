/**
 * The protobuf wire format, only as far as the pod-resources messages need it: varints,
 * length-delimited fields (strings, bytes, sub-messages), and skipping every other wire type
 * so fields added by newer kubelets (cpu_ids, memory, topology, dynamic_resources…) are
 * read past, as protobuf requires.
 */

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

export class ProtobufError extends Error {
  constructor(message: string) {
    super(`malformed protobuf message: ${message}`);
    this.name = 'ProtobufError';
  }
}

/** One field as read: its number, and for length-delimited fields the bytes. */
export interface Field {
  readonly no: number;
  readonly wire: number;
  /** LEN fields: the payload. */
  readonly bytes?: Uint8Array;
  /** VARINT fields (up to 2^53). */
  readonly value?: number;
}

function varint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const b = buf[at + i];
    if (b === undefined) throw new ProtobufError('truncated varint');
    value += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
  throw new ProtobufError('varint longer than 10 bytes');
}

/** Every field of one message, in order. */
export function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [key, next] = varint(buf, at);
    at = next;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    if (no === 0) throw new ProtobufError('field number 0');
    if (wire === VARINT) {
      const [value, n] = varint(buf, at);
      at = n;
      out.push({ no, wire, value });
    } else if (wire === LEN) {
      const [len, n] = varint(buf, at);
      if (n + len > buf.length) throw new ProtobufError(`field ${no} runs past the end`);
      out.push({ no, wire, bytes: buf.subarray(n, n + len) });
      at = n + len;
    } else if (wire === I64 || wire === I32) {
      at += wire === I64 ? 8 : 4;
      if (at > buf.length) throw new ProtobufError(`field ${no} runs past the end`);
      out.push({ no, wire });
    } else {
      throw new ProtobufError(`unsupported wire type ${wire} (field ${no})`);
    }
  }
  return out;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

export function text(bytes: Uint8Array | undefined): string {
  return bytes ? decoder.decode(bytes) : '';
}

/** The LEN fields numbered `no` (repeated strings and sub-messages). */
export function lens(fields: readonly Field[], no: number): Uint8Array[] {
  return fields.filter((f) => f.no === no && f.wire === LEN && f.bytes).map((f) => f.bytes as Uint8Array);
}

function encodeVarint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A length-delimited field (string, bytes or a sub-message). */
export function lenField(no: number, payload: string | Uint8Array): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from([...encodeVarint(no * 8 + LEN), ...encodeVarint(bytes.length)]), bytes]);
}

export function varintField(no: number, value: number): Buffer {
  return Buffer.from([...encodeVarint(no * 8 + VARINT), ...encodeVarint(value)]);
}
