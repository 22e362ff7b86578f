/**
 * The end-to-end test's own instruments (no root needed): the Prometheus text parser and the
 * alert-rule evaluator. The evaluator runs the REAL provisioned rules on hand-made frames in
 * Grafana's JSON shape, so the e2e's "not firing" / "firing" verdicts rest on a checked
 * implementation of reduce, math and threshold.
 */
import { resolve } from 'node:path';
import { parsePrometheusText, sumOf } from '../src/e2e/agent-state';
import { evaluateRule, loadAlertRules, type AlertRule, type RunQueries } from '../src/e2e/alerting';
import type { DataResponse, FrameJson } from '../src/e2e/plugin-backend';

const RULES = loadAlertRules(resolve(__dirname, '..', '..', 'provisioning', 'grafana', 'alerting', 'flowmesh-rules.yaml'));
const MiB = 1024 * 1024;

/** A timeseries frame as the backend sends it: time + one labelled value field. */
function series(node: string, values: (number | null)[]): FrameJson {
  return {
    schema: { fields: [{ name: 'time', type: 'time' }, { name: 'bytes', type: 'number', labels: { node } }] },
    data: { values: [values.map((_, i) => 1_700_000_000_000 + i * 60_000), values] },
  };
}

/** Answers each refId with the given frames and records what was asked. */
function answering(frames: Record<string, FrameJson[]>, asked: object[][] = []): RunQueries {
  return async (queries, _range, headers) => {
    asked.push(queries);
    expect(headers).toEqual({ FromAlert: 'true' });
    return Object.fromEntries(queries.map((q) => [(q as { refId: string }).refId, { status: 200, frames: frames[(q as { refId: string }).refId] ?? [] } satisfies DataResponse]));
  };
}

function rule(uid: string): AlertRule {
  const found = RULES.get(uid);
  if (!found) throw new Error(`no rule ${uid}`);
  return found;
}

describe('Prometheus text parser', () => {
  test('samples with and without labels, escapes, comments and timestamps', () => {
    const samples = parsePrometheusText([
      '# HELP flowmesh_traffic_bytes_total IP-layer bytes',
      '# TYPE flowmesh_traffic_bytes_total counter',
      'flowmesh_traffic_bytes_total{direction="outbound",protocol="tcp",peer="node-a"} 1200',
      'flowmesh_traffic_bytes_total{direction="inbound",protocol="udp",peer="say \\"hi\\""} 34 1700000000000',
      'flowmesh_flow_table_flows 0',
      '',
    ].join('\n'));
    expect(samples).toHaveLength(3);
    expect(samples[1].labels.peer).toBe('say "hi"');
    expect(sumOf(samples, 'flowmesh_traffic_bytes_total')).toBe(1234);
    expect(sumOf(samples, 'flowmesh_flow_table_flows')).toBe(0);
  });

  test('a line that is not a sample is an error naming it', () => {
    expect(() => parsePrometheusText('flowmesh_x{a="b" 1')).toThrow('not a Prometheus sample line: "flowmesh_x{a="b" 1"');
  });
});

describe('alert rule evaluator on the provisioned rules', () => {
  test('traffic spike: fires only where the last 5 minutes exceed 10 MiB and 3x the hourly 5-minute average', async () => {
    const asked: object[][] = [];
    const now = 1_800_000_000_000;
    const result = await evaluateRule(rule('flowmesh-traffic-spike'), 'flowmesh', answering({
      // spiking: 11 MiB now, nothing else in the hour; steady: 11 MiB now and every 5 minutes of the hour; small: 1 MiB.
      A: [series('spiking', [0, 0, 0, 11 * MiB, 0]), series('steady', [11 * MiB, 0, 0, 0, null]), series('small', [MiB, 0, 0, 0, 0])],
      B: [series('spiking', [11 * MiB]), series('steady', Array(12).fill(11 * MiB)), series('small', [MiB])],
    }, asked), now);
    expect(result.firing).toEqual([{ node: 'spiking' }]);
    expect(result.numbers.get('C')).toEqual([
      { labels: { node: 'spiking' }, value: 11 * MiB }, { labels: { node: 'steady' }, value: 11 * MiB }, { labels: { node: 'small' }, value: MiB },
    ]);
    expect(result.numbers.get('E')?.map((n) => n.value)).toEqual([1, 0, 0]);
    // Both data queries in one request, each with the rule's relative range and the model's interval.
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject([
      { refId: 'A', queryType: 'timeseries', intervalMs: 60_000, timeRange: { from: now - 300_000, to: now } },
      { refId: 'B', queryType: 'timeseries', intervalMs: 300_000, timeRange: { from: now - 3_600_000, to: now } },
    ]);
  });

  test('failed connections: sum over 5 minutes above 50; no series is no alert', async () => {
    const run = answering({ A: [series('laptop', [20, 31]), series('gw', [50, 0])] });
    const result = await evaluateRule(rule('flowmesh-failed-connections'), 'flowmesh', run);
    expect(result.firing).toEqual([{ node: 'laptop' }]);
    expect((await evaluateRule(rule('flowmesh-failed-connections'), 'flowmesh', answering({}))).firing).toEqual([]);
  });

  test('math precedence, scalar broadcast and label joins; strict reduce turns a null into no value', async () => {
    const expr = (expression: string): AlertRule => ({
      uid: 't', title: 't', condition: 'M',
      data: [
        { refId: 'A', datasourceUid: 'flowmesh', model: { refId: 'A' } },
        { refId: 'R', datasourceUid: '__expr__', model: { refId: 'R', type: 'reduce', expression: 'A', reducer: 'last' } },
        { refId: 'M', datasourceUid: '__expr__', model: { refId: 'M', type: 'math', expression } },
      ],
    });
    const run = answering({ A: [series('x', [1, 6]), series('y', [1, null])] });
    const value = async (expression: string) => (await evaluateRule(expr(expression), 'flowmesh', run)).numbers.get('M');
    expect(await value('2 + $R * 3 - 10 / 5')).toEqual([{ labels: { node: 'x' }, value: 18 }, { labels: { node: 'y' }, value: null }]);
    expect((await value('($R > 5 && !($R == 7)) || 0'))?.[0].value).toBe(1);
    expect((await value('${R} % 4 - -1'))?.[0].value).toBe(3);
    expect((await value('$R + $R'))?.map((n) => n.labels.node)).toEqual(['x', 'y']); // joined on equal labels only
    await expect(value('$R >')).rejects.toThrow('ends early');
  });

  test('an expression type the evaluator does not know is an error, not a silent pass', async () => {
    const r: AlertRule = {
      uid: 'r', title: 'r', condition: 'B',
      data: [{ refId: 'A', datasourceUid: 'flowmesh', model: { refId: 'A' } }, { refId: 'B', datasourceUid: '__expr__', model: { refId: 'B', type: 'resample', expression: 'A' } }],
    };
    await expect(evaluateRule(r, 'flowmesh', answering({}))).rejects.toThrow('expression type resample not implemented');
  });
});
