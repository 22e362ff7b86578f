/**
 * The Grafana rules the end-to-end test plays by (src/grafana, no root needed), checked on
 * hand-made inputs with known verdicts, each rule both ways: variables and their formats,
 * links to variables, which frames server-side expressions accept, what each panel type
 * needs. Then the shipped dashboards' static side (links, placement) through the same rules.
 */
import type { FrameJson } from '../src/e2e/plugin-backend';
import { dataPanels, loadDashboards, panelQuery, roundInterval } from '../src/e2e/dashboards';
import { expandEnv } from '../src/e2e/provisioned';
import { expressionInput } from '../src/grafana/expressions';
import { adHocFiltersFromUrl, checkDataLink, hiddenDashboardLinks, panelLinks } from '../src/grafana/links';
import { isEmpty, panelFit } from '../src/grafana/panels';
import { TemplateSrv, customOptions, dashboardVariables, defaultValue, sortOptions, type Json } from '../src/grafana/template';

type Field = FrameJson['schema']['fields'][number];
const frame = (name: string, fields: Field[], values: unknown[][], meta: FrameJson['schema']['meta'] = {}): FrameJson => ({
  schema: { name, meta, fields },
  data: { values },
});
const num = (name: string, labels?: Record<string, string>, config?: Field['config']): Field => ({ name, type: 'number', labels, config });
const str = (name: string, config?: Field['config']): Field => ({ name, type: 'string', config });
const time: Field = { name: 'time', type: 'time' };
const multi = { type: 'timeseries-multi', typeVersion: [0, 1] };

describe('template variables as Grafana resolves them', () => {
  const srv = new TemplateSrv(new Map<string, string | string[]>([['node', ['a', 'b']], ['one', ['x']], ['ds', 'flowmesh']]));

  test('multi-value: glob by default, csv and pipe formats, the array to a format function; unknown names stay', () => {
    expect(srv.replace('${node}')).toBe('{a,b}');
    expect(srv.replace('$one')).toBe('x');
    expect(srv.replace('${node:csv}')).toBe('a,b');
    expect(srv.replace('[[node]]', {}, 'pipe')).toBe('a|b');
    expect(srv.replace('${node}', {}, (v: unknown) => JSON.stringify(v))).toBe('["a","b"]');
    expect(srv.replace('${src_ip} $ds')).toBe('${src_ip} flowmesh');
    expect(() => srv.replace('${node:sqlstring}')).toThrow('not emulated');
  });

  test('defaults: the saved value when valid, All = every option, else the first option (sorted)', () => {
    const [all, single] = dashboardVariables({
      templating: {
        list: [
          { name: 'node', type: 'query', multi: true, includeAll: true, current: { value: '$__all' }, sort: 5 },
          { name: 'pick', type: 'query', multi: false, includeAll: false, sort: 5 },
        ],
      },
    });
    const options = sortOptions(['node-b', 'Gw', 'laptop'], 5);
    expect(options).toEqual(['Gw', 'laptop', 'node-b']);
    expect(defaultValue(all, options)).toEqual(options);
    expect(defaultValue(single, options)).toBe('Gw');
    expect(customOptions({ ...single, model: { query: 'inbound, outbound,forwarded' } })).toEqual(['inbound', 'outbound', 'forwarded']);
  });

  test('provisioning env expansion', () => {
    expect(expandEnv('${TOKEN}:$USER:$$x:${MISSING}', { TOKEN: 't', USER: 'u' })).toBe('t:u:$x:');
  });

  test('interval rounding (rangeUtil.roundInterval) and the query a panel sends', () => {
    expect([roundInterval(3750), roundInterval(14000), roundInterval(100_000)]).toEqual([5000, 15000, 120000]);
    const panel = { gridPos: { w: 12 }, targets: [] };
    const target = { refId: 'A', queryType: 'top', datasource: { uid: '${ds}' }, filters: [{ field: 'node', op: 'eq', value: '${node}' }] };
    const q = panelQuery(panel, target, new Map([['node', ['a', 'b']]]), [{ key: 'src_ip', operator: '=', value: '10.0.0.1' }], { from: 0, to: 3_600_000 });
    expect(q).toEqual({
      refId: 'A', queryType: 'top', maxDataPoints: 960, intervalMs: 5000,
      filters: [{ field: 'node', op: 'in', values: ['a', 'b'] }, { field: 'src_ip', op: 'eq', value: '10.0.0.1' }],
    });
  });
});

describe('links', () => {
  const variables: Record<string, string[]> = { here: ['ds', 'node', 'filters'], other: ['node'] };
  const check = (url: string) => checkDataLink(url, 'here', (uid) => variables[uid]);

  test('a link may only use and set variables that exist where it points', () => {
    expect(check('/d/${__dashboard.uid}?${__url_time_range}&${__all_variables}&var-filters=src_ip|=|${__value.raw}')).toEqual([]);
    expect(check('/d/other?var-node=${__value.raw}&${__url_time_range}')).toEqual([]);
    expect(check('/d/${__dashboard.uid}?var-src_ip=${__value.raw}')).toEqual(['sets var-src_ip, which dashboard here does not define']);
    expect(check('/d/nowhere?var-node=x')).toEqual(['opens dashboard nowhere, which is not shipped']);
    expect(check('/explore?x=${proto}')).toEqual(['uses $proto, which dashboard here does not define']);
  });

  test('placement hides a dashboard link from Grafana 12.3', () => {
    expect(hiddenDashboardLinks({ links: [{ title: 'A' }, { title: 'B', placement: 'inControlsMenu' }] })).toEqual([
      'dashboard link "B" has placement "inControlsMenu": Grafana 12.3 does not show it',
    ]);
  });

  test('an ad-hoc filter from a clicked link', () => {
    expect(adHocFiltersFromUrl('/d/x?from=1&var-filters=&var-filters=src_ip|=|10.0.0.1&var-node=a', 'filters')).toEqual([
      { key: 'src_ip', operator: '=', value: '10.0.0.1' },
    ]);
  });
});

describe('what server-side expressions accept', () => {
  test('a number table: one numeric column, string labels, unique label sets', () => {
    const table = frame('top', [str('src_ip'), num('flows')], [['10.0.0.1', '10.0.0.2'], [120, 4]]);
    expect(expressionInput([table], 'A')).toEqual({
      kind: 'numbers',
      items: [{ labels: { src_ip: '10.0.0.1' }, value: 120 }, { labels: { src_ip: '10.0.0.2' }, value: 4 }],
    });
    const repeated = frame('top', [str('src_ip'), num('flows')], [['x', 'x'], [1, 2]]);
    expect(() => expressionInput([repeated], 'A')).toThrow('frame cannot uniquely be identified by its labels: has duplicate results with labels {src_ip=x}');
  });

  test('a summary as a dozen unlabelled numbers is refused; one number is read', () => {
    const wide = { type: 'numeric-wide', typeVersion: [0, 1] };
    expect(() => expressionInput([frame('summary', [num('bytes'), num('packets')], [[1], [2]], wide)], 'S')).toThrow('duplicate results with labels {}');
    expect(expressionInput([frame('summary', [num('flows')], [[3]], wide)], 'S')).toEqual({ kind: 'numbers', items: [{ labels: {}, value: 3 }] });
  });

  test('time series: typed multi frames with labels; a long frame and repeated series are refused; no frames is no data', () => {
    const series = (node: string) => frame('bytes', [time, num('bytes', { node })], [[1, 2], [5, 6]], multi);
    expect(expressionInput([series('a'), series('b')], 'A')).toMatchObject({ kind: 'series', series: [{ labels: { node: 'a' } }, { labels: { node: 'b' } }] });
    expect(() => expressionInput([series('a'), series('a')], 'A')).toThrow('duplicate metrics found for metric name "bytes"');
    expect(() => expressionInput([frame('long', [time, str('node'), num('bytes')], [[1], ['a'], [2]])], 'A')).toThrow('input data must be a wide series but got type long');
    expect(expressionInput([], 'A')).toEqual({ kind: 'nodata' });
    expect(expressionInput([frame('', [], [], multi)], 'A')).toEqual({ kind: 'nodata' });
  });
});

describe('what each panel type needs', () => {
  test('node graph: text stats, edges between known nodes, arcs adding up to 1', () => {
    const nodes = frame('nodes', [str('id'), str('title'), str('mainstat'), num('arc__a'), num('arc__b')], [['a', 'b'], ['a', 'b'], ['1 KiB sent', '0 B sent'], [1, 0.25], [0, 0.75]]);
    const edges = frame('edges', [str('id'), str('source'), str('target'), str('mainstat')], [['a->b'], ['a'], ['b'], ['1 KiB']]);
    const panel = { type: 'nodeGraph' };
    expect(panelFit(panel, [nodes, edges])).toEqual([]);
    const numeric = frame('edges', [str('id'), str('source'), str('target'), num('mainstat')], [['a->c'], ['a'], ['c'], [1048576]]);
    expect(panelFit(panel, [nodes, numeric])).toEqual([
      'an edge\'s target "c" is not a node',
      'edges mainstat is number: the panel prints it as value.toFixed(2) + unit',
    ]);
    expect(isEmpty(panel, [nodes, frame('edges', edges.schema.fields, [[], [], [], []])])).toBe(true);
  });

  test('table: transformations and overrides must find the fields they name', () => {
    const panel = {
      type: 'table',
      transformations: [{ id: 'organize', options: { renameByName: { 'Source IP': 'Source' }, excludeByName: { Bytes: true } } }],
      fieldConfig: { overrides: [{ matcher: { id: 'byName', options: 'Source' }, properties: [] }, { matcher: { id: 'byName', options: 'Flows' }, properties: [] }] },
    };
    const f = frame('top', [str('src_ip', { displayName: 'Source IP' }), num('bytes', undefined, { displayName: 'Bytes' })], [['x'], [1]]);
    expect(panelFit(panel, [f])).toEqual(['override for "Flows" matches no field (fields: Source)']);
  });

  test('time series: a time field, distinct series labelled by the split; all zeros is empty', () => {
    const panel = { type: 'timeseries', targets: [{ splitBy: ['direction'] }] };
    const ok = frame('bytes', [time, num('bytes', { direction: 'inbound' })], [[1, 2], [0, 3]], multi);
    expect(panelFit(panel, [ok])).toEqual([]);
    expect(panelFit(panel, [frame('bytes', [time, num('bytes')], [[1], [2]], multi)])).toEqual(['series bytes {} lacks the label(s) direction it is split by']);
    expect(isEmpty(panel, [frame('bytes', [time, num('bytes', { direction: 'x' })], [[1], [0]], multi)])).toBe(true);
  });

  test('stat: a numeric field its reduce options select', () => {
    const panel = { type: 'stat', options: { reduceOptions: { fields: '/^Flows$/' } } };
    expect(panelFit(panel, [frame('top', [str('node'), num('flows', undefined, { displayName: 'Flows' })], [['a'], [3]])])).toEqual([]);
    expect(panelFit(panel, [frame('top', [str('node'), num('bytes', undefined, { displayName: 'Bytes' })], [['a'], [3]])])).toEqual(['no numeric field matching /^Flows$/ to reduce']);
  });
});

describe('the shipped dashboards, statically', () => {
  const dashboards = loadDashboards();
  const variablesOf = (uid: string) => dashboards.find((d) => d.uid === uid)?.variables.map((v) => v.name);

  test('every dashboard link shows in Grafana 12.3 and every panel data link reaches variables that exist', () => {
    const problems = dashboards.flatMap((d) => [
      ...hiddenDashboardLinks(d.json),
      ...dataPanels(d.json).flatMap((p: Json) => panelLinks(p).flatMap((l) => checkDataLink(l.url, d.uid, variablesOf).map((x) => `${d.file} / ${String(p.title)}: ${x}`))),
    ]);
    expect(problems).toEqual([]);
    expect(dashboards.map((d) => d.json.links?.length)).toEqual([1, 1, 1, 1]);
  });

  test('address columns link to the ad-hoc Filters variable', () => {
    const overview = dashboards.find((d) => d.file === 'flowmesh-overview.json');
    const flowsPanel = dataPanels(overview?.json ?? {}).find((p: Json) => p.title === 'Newest flows');
    expect(panelLinks(flowsPanel ?? {}).map((l) => l.url)).toEqual(expect.arrayContaining([expect.stringContaining('var-filters=src_ip|=|${__value.raw}')]));
  });
});
