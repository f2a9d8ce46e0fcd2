/**
 * add/check/del/gc/status (cnitool.ts) without root: usage errors are exit 2 with the usage,
 * a network that is not there is exit 1 with libcni's message. (test/integration/cnitool.test.ts
 * and test/e2e/cli.test.ts run them against real namespaces.)
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../../../test/helpers/cli.ts';

describe('add/del usage', () => {
  it.each([
    [['add'], /^manifold add: missing NETWORK\nusage: manifold add NETWORK NETNS/],
    [['add', 'net'], /^manifold add: missing NETNS\n/],
    [['del', 'a', 'b', 'c'], /^manifold del: unexpected argument "c"\n/],
    [
      ['add', 'a', 'b', '--log-format', 'xml'],
      /^manifold add: --log-format: "xml" is not one of json\|text\n/,
    ],
  ])('%j', async (args, msg) => {
    const r = await cli(args, { env: { NETCONFPATH: '/nonexistent' } });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });

  it("a network that is not there: exit 1, libcni's message", async () => {
    const r = await cli(['add', 'nope', '/run/netns/x'], { env: { NETCONFPATH: '/nonexistent/d' } });
    expect(r.code).toBe(1);
    expect(r.err).toBe('manifold add: no net configurations found in /nonexistent/d\n');
    const bad = await cli(['add', 'nope', '/run/netns/x'], {
      env: { NETCONFPATH: '/nonexistent/d', CNI_ARGS: 'X' },
    });
    expect(bad.err).toBe(
      'manifold add: invalid CNI_ARGS pair "X"\nusage: manifold add NETWORK NETNS [--ifname NAME] [--cache-dir DIR] [--log-format json|text] [--log-level LEVEL]\n(manifold add --help for more)\n',
    );
  });
});
