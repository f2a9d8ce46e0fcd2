import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.ts';

describe('Metrics', () => {
  it('renders cumulative histograms by verb and outcome, and the readings', () => {
    const m = new Metrics();
    m.request('ADD', 0, 0.003);
    m.request('ADD', 0, 0.2);
    m.request('ADD', 11, 0.0005);
    m.queueWait('ADD', 0.001);
    const text = m.render({ inFlight: 2, queued: 3, draining: false, fallbacks: 4, rssBytes: 1000 });
    const line = (prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));
    expect(
      line('manifold_request_duration_seconds_bucket{verb="ADD",outcome="ok",code="0",le="0.0025"}'),
    ).toMatch(/ 0$/);
    expect(
      line('manifold_request_duration_seconds_bucket{verb="ADD",outcome="ok",code="0",le="0.005"}'),
    ).toMatch(/ 1$/);
    expect(
      line('manifold_request_duration_seconds_bucket{verb="ADD",outcome="ok",code="0",le="+Inf"}'),
    ).toMatch(/ 2$/);
    expect(line('manifold_request_duration_seconds_count{verb="ADD",outcome="error",code="11"}')).toMatch(
      / 1$/,
    );
    expect(line('manifold_request_duration_seconds_sum{verb="ADD",outcome="ok",code="0"}')).toBe(
      'manifold_request_duration_seconds_sum{verb="ADD",outcome="ok",code="0"} 0.203',
    );
    expect(line('manifold_queue_wait_seconds_count{verb="ADD"}')).toMatch(/ 1$/);
    expect(text).toContain('\nmanifold_requests_in_flight 2\n');
    expect(text).toContain('\nmanifold_queue_length 3\n');
    expect(text).toContain('\nmanifold_shim_fallbacks_total 4\n');
    expect(text).toContain('# TYPE manifold_shim_fallbacks_total counter\n');
    expect(text).toContain('\nprocess_resident_memory_bytes 1000\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('renders delegate latency by type, verb and outcome', () => {
    const m = new Metrics();
    m.delegate('macvlan', 'ADD', true, 0.002);
    m.delegate('ptp', 'ADD', false, 0.04);
    const text = m.render({ inFlight: 0, queued: 0, draining: false, fallbacks: 0, rssBytes: 1 });
    expect(text).toContain(
      'manifold_delegate_duration_seconds_count{type="macvlan",verb="ADD",outcome="ok"} 1\n',
    );
    expect(text).toContain(
      'manifold_delegate_duration_seconds_count{type="ptp",verb="ADD",outcome="error"} 1\n',
    );
    expect(text).toContain('# TYPE manifold_delegate_duration_seconds histogram\n');
  });
});
