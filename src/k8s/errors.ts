/**
 * What the Kubernetes client throws: `ApiError` for an answer of the API server that is not a
 * success (its HTTP status and the Status object's reason, e.g. 404 "NotFound"), and
 * `UnreachableError` when no answer came within the budget (connection refused, timeouts,
 * 5xx and 429 after the retries). The meta-plugin turns them into CNI errors.
 */

export class ApiError extends Error {
  readonly status: number;
  /** The Status object's `reason` (`NotFound`, `Conflict`, `Forbidden`…), or "" when the body had none. */
  readonly reason: string;

  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}

export class UnreachableError extends Error {
  /** How many attempts were made. */
  readonly attempts: number;

  constructor(message: string, attempts: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
    this.attempts = attempts;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}
