/** Reads a resolv.conf into the result's DNS section (host-local's `resolvConf`). */
import { readFileSync } from 'node:fs';
import { failed, q } from '../../src/cni/errors.ts';
import type { DNS } from '../../src/cni/result.ts';

export function parseResolvConf(text: string): DNS {
  const dns = { nameservers: [] as string[], domain: '', search: [] as string[], options: [] as string[] };
  for (const line of text.split('\n')) {
    const fields = line
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/);
    const [key, ...rest] = fields;
    if (!key || rest.length === 0) continue;
    if (key === 'nameserver' && rest[0]) dns.nameservers.push(rest[0]);
    else if (key === 'domain' && rest[0]) dns.domain = rest[0];
    else if (key === 'search') dns.search.push(...rest);
    else if (key === 'options') dns.options.push(...rest);
  }
  const out: DNS = {};
  if (dns.nameservers.length) out.nameservers = dns.nameservers;
  if (dns.domain) out.domain = dns.domain;
  if (dns.search.length) out.search = dns.search;
  if (dns.options.length) out.options = dns.options;
  return out;
}

export function readResolvConf(path: string): DNS {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch (err) {
    throw failed(`read resolvConf ${q(path)}`, err);
  }
}
