/**
 * Secrets out of log lines: private keys (PEM blocks), bearer tokens and JWTs, the values of
 * fields whose name says secret (token, password, secret, key, credential, auth — in JSON,
 * YAML and CNI_ARGS' K=V form; `tokenFile`-style paths stay), and so what a kubeconfig holds
 * (token, password, client-key-data) never reaches a log, whatever message quoted it.
 */

const REDACTED = '[redacted]';

const PEM = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/** A field name that holds a secret (but not the path of a file holding one). */
const KEY =
  '[A-Za-z0-9_.-]*(?:token|passw(?:or)?d|secret|private[-_]?key|client[-_]key(?:[-_]data)?|api[-_]?key|credential|auth(?:orization)?)[A-Za-z0-9_.-]*';
const isPathKey = (k: string) => /(?:file|path|dir)$/i.test(k);

// "key": "value" (JSON, also with escaped quotes inside a JSON string)
const JSON_PAIR = new RegExp(String.raw`(\\?")(${KEY})\1(\s*:\s*)(\\?")((?:\\\\|\\[^"\\]|[^"\\])*?)\4`, 'gi');
// key: value (YAML), key=value (CNI_ARGS, env), up to ; , whitespace or a quote
const PLAIN_PAIR = new RegExp(String.raw`(^|[\s;,{(])(${KEY})(\s*[:=]\s*)([^\s;,"'}\])]+)`, 'gim');

export function redact(s: string): string {
  if (s.length < 6) return s;
  return s
    .replace(PEM, `${REDACTED} private key`)
    .replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(JSON_PAIR, (m, q: string, k: string, sep: string, vq: string) =>
      isPathKey(k) ? m : `${q}${k}${q}${sep}${vq}${REDACTED}${vq}`,
    )
    .replace(PLAIN_PAIR, (m, pre: string, k: string, sep: string) =>
      isPathKey(k) ? m : `${pre}${k}${sep}${REDACTED}`,
    );
}

/**
 * CNI_ARGS for a log line: a piece that is not KEY=VALUE may be a token that lost its key, so
 * it is not repeated; the rest goes through redact() with the line.
 */
export function cniArgsForLog(raw: string): string {
  return raw
    .split(';')
    .map((p) => (p === '' || p.indexOf('=') > 0 ? p : REDACTED))
    .join(';');
}
