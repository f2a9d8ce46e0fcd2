/**
 * Secrets are redacted from log text wherever they sit: a kubeconfig quoted in a message
 * (token, password, client-key-data, a PEM private key), CNI_ARGS pairs whose key says
 * secret, JSON fields, bearer tokens and JWTs — and ordinary troubleshooting text is left as it is.
 */
import { describe, expect, it } from 'vitest';
import { cniArgsForLog, redact } from './redact.ts';

const KEY = `-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAsecretsecretsecret
-----END RSA PRIVATE KEY-----`;

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://10.96.0.1:443
    certificate-authority: /etc/cni/net.d/manifold.d/ca.crt
users:
- name: manifold
  user:
    token: tok-AAAA-1111-secret
    tokenFile: /etc/cni/net.d/manifold.d/token
    password: hunter2-secret
    client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==
`;

describe('redact', () => {
  it.each([
    [
      'a kubeconfig in YAML',
      KUBECONFIG,
      ['tok-AAAA-1111-secret', 'hunter2-secret', 'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg=='],
    ],
    ['a PEM private key', `key: ${KEY} end`, ['MIIEowIBAAKCAQEAsecretsecretsecret']],
    ['a key block cut off', '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANsecret', ['MIIEvQIBADANsecret']],
    [
      'CNI_ARGS',
      'CNI_ARGS "IgnoreUnknown=1;K8S_POD_NAME=web;API_TOKEN=s3cr3t-abc;DB_PASSWORD=pw-xyz"',
      ['s3cr3t-abc', 'pw-xyz'],
    ],
    [
      'JSON',
      '{"name":"n","args":{"cni":{"token":"json-tok-1","secretKey":"sk-2"}},"password":"pw"}',
      ['json-tok-1', 'sk-2', '"pw"'],
    ],
    [
      'JSON inside a JSON string',
      JSON.stringify(JSON.stringify({ token: 'nested-tok-3' })),
      ['nested-tok-3'],
    ],
    ['a bearer token', 'GET /api/v1/pods: Authorization: Bearer abcdefghijklmnop', ['abcdefghijklmnop']],
    [
      'a JWT anywhere',
      'sa eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl end',
      ['eyJzdWIiOiJzeXN0ZW0ifQ'],
    ],
  ])('%s', (_what, text, secrets) => {
    const out = redact(text);
    for (const s of secrets) expect(out).not.toContain(s);
    expect(out).toContain('[redacted]');
  });

  it('leaves paths and ordinary messages alone', () => {
    for (const s of [
      'tokenFile: /etc/cni/net.d/manifold.d/token',
      'ADD c1: delegate "mv" (macvlan) attached as net1 in 12.3 ms',
      'failed to read kubeconfig "/etc/kube.conf": no such file',
      'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc',
      'the service-account token is read again for each request',
    ]) {
      expect(redact(s)).toBe(s);
    }
    expect(redact(KUBECONFIG)).toContain('server: https://10.96.0.1:443');
    expect(redact(KUBECONFIG)).toContain('tokenFile: /etc/cni/net.d/manifold.d/token');
  });

  it('CNI_ARGS for the log: a piece without its key is not repeated (it may be a token)', () => {
    expect(cniArgsForLog('K8S_POD_NAME=p;S3CRET-PAIR;IgnoreUnknown=1')).toBe(
      'K8S_POD_NAME=p;[redacted];IgnoreUnknown=1',
    );
    expect(cniArgsForLog('=x;A=1')).toBe('[redacted];A=1');
    expect(cniArgsForLog('')).toBe('');
  });
});
