/**
 * The one error type of manifold. Every failure that reaches the skel is either a CniError
 * (printed as the CNI error JSON with its code) or becomes code 999 with a short message.
 */

/** Error codes of the CNI spec (1.1.0) plus the ones the Go library uses (8, 999). */
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  CannotServeAdd: 50,
  CannotServeAddDegraded: 51,
  Internal: 999,
} as const;
export type CniCode = number;

export class CniError extends Error {
  readonly code: CniCode;
  readonly details: string;

  constructor(code: CniCode, msg: string, details = '', options?: { cause?: unknown }) {
    super(msg, options);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }

  /** The message as one line, details included (for wrapping into another error). */
  describe(): string {
    return this.details ? `${this.message}; ${this.details}` : this.message;
  }
}

/** A short, single-line description of any thrown value (never a stack). */
export function describeError(err: unknown): string {
  if (err instanceof CniError) return err.describe();
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (e.code && !e.message.includes(e.code)) return `${e.message} (${e.code})`;
    return e.message;
  }
  return String(err);
}

/**
 * Wraps a cause into `failed to <what>: <cause>`, keeping the cause's CNI code when it has one.
 * `what` reads like `create macvlan on master "eth1"`.
 */
export function failed(what: string, cause: unknown, code: CniCode = Code.Internal): CniError {
  const inner = cause instanceof CniError ? cause.code : code;
  return new CniError(inner, `failed to ${what}: ${describeError(cause)}`, '', { cause });
}

/** Invalid configuration (code 7); `field` is the JSON path of the offending field. */
export function invalidConfig(field: string, problem: string): CniError {
  return new CniError(Code.InvalidConfig, field ? `${field}: ${problem}` : problem);
}

/** Quotes a value for a message the way Go's %q would: JSON string quoting. */
export function q(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
}
