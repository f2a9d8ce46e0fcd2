/**
 * The shim ↔ daemon protocol (docs/daemon.md): `POST /cni` with `{name, env, stdin}` as JSON,
 * answered with `{status, stdout}`, where `stdout` is byte for byte what one-shot prints. This
 * file reads a request body and writes the daemon's own answers (the CNI errors of a request
 * it could not take: code 6 undecodable, 7 invalid, 11 try again later).
 */
import { CniError, Code, q } from '../cni/errors.ts';
import { printJson } from '../cni/result.ts';
import { CURRENT_VERSION } from '../cni/versions.ts';

/** Bodies above this are refused (413, code 6) without being read. */
export const MAX_BODY = 4 * 1024 * 1024;

/** One CNI call as the shim forwards it. */
export interface CniRequest {
  /** The basename the shim was invoked as: picks the plugin as one-shot's argv0 does. */
  readonly name: string;
  /** The call's CNI_* and MANIFOLD_* variables (anything else the shim sent is dropped). */
  readonly env: Readonly<Record<string, string>>;
  /** The config, as the runtime wrote it on stdin. */
  readonly stdin: Buffer;
}

/** What the daemon answers: the exit status and stdout one-shot would have. */
export interface CniResponse {
  readonly status: number;
  readonly stdout: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/**
 * Set by the daemon in the environment of each call it runs, to a fresh random id: the
 * plugins that call executes inherit it, and one of them that comes back through the shim
 * (an executed plugin whose IPAM type is the shim) is known as that call's child and is not
 * queued behind it (src/daemon/scheduler.ts `nested`).
 */
export const CALL_MARKER = 'MANIFOLD_DAEMON_CALL';

/** Only these reach the call; the daemon adds its own PATH. */
const PASSED = /^(CNI_|MANIFOLD_)/;

/** Reads a request body; a CniError (code 6 or 7, naming the field) when it is not one. */
export function parseRequest(body: Buffer): CniRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new CniError(Code.DecodingFailure, `failed to decode request: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CniError(Code.DecodingFailure, 'failed to decode request: not a JSON object');
  }
  const { name, env, stdin } = doc as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') throw invalid('name', name, 'a non-empty string');
  if (env === null || typeof env !== 'object' || Array.isArray(env)) throw invalid('env', env, 'an object');
  if (typeof stdin !== 'string') throw invalid('stdin', stdin, 'a base64 string');
  const passed: Record<string, string> = {};
  for (const [k, v] of Object.entries(env as Record<string, unknown>)) {
    if (!PASSED.test(k)) continue;
    if (typeof v !== 'string') throw invalid(`env.${k}`, v, 'a string');
    passed[k] = v;
  }
  if (!BASE64.test(stdin)) {
    throw new CniError(Code.DecodingFailure, 'failed to decode request: stdin is not base64');
  }
  return { name, env: passed, stdin: Buffer.from(stdin, 'base64') };
}

function invalid(field: string, value: unknown, want: string): CniError {
  const full = value === undefined ? 'missing' : q(value);
  const shown = full.length > 60 ? `${full.slice(0, 57)}...` : full;
  return new CniError(Code.InvalidConfig, `invalid request: ${field} must be ${want} (got ${shown})`);
}

/** The config's cniVersion, for an error the daemon writes itself (else the current one). */
export function cniVersionOf(stdin: Buffer | undefined): string {
  if (!stdin || stdin.length > MAX_BODY) return CURRENT_VERSION;
  try {
    const v = (JSON.parse(stdin.toString('utf8')) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v !== '' ? v : CURRENT_VERSION;
  } catch {
    return CURRENT_VERSION;
  }
}

/** A response body carrying a CNI error, exactly as the skel prints one. */
export function errorResponse(code: number, msg: string, cniVersion: string = CURRENT_VERSION): CniResponse {
  return { status: 1, stdout: printJson({ cniVersion, code, msg: msg.replace(/[\r\n]+/g, ' ') }) };
}

/** The verbs whose calls the daemon still takes while it drains (after SIGTERM). */
export function servedWhileDraining(verb: string | undefined): boolean {
  return verb === 'DEL' || verb === 'STATUS' || verb === 'VERSION';
}
