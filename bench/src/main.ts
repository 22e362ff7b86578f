/**
 * `npm run bench [-- --quick] [--only SECTION[,SECTION]] [--runs N] [--json OUT]`
 *
 * Measures Flowmesh and the established tools on the same input in the same run and prints
 * ratios: offline ingest on a snap-length corpus and on a full-frame one (+ flow agreement
 * with ground truth), live capture drops and CPU, memory, store and query latency,
 * federation, overload and slow clients. Figures are medians of several runs with min and
 * max; nothing is asserted. It first builds what it measures (build.ts). A section or tool that fails is listed at the end
 * and the bench exits 1 (a missing prerequisite too, under CI). Results go to
 * bench/results/latest.json (gitignored).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildWhatTheBenchNeeds } from './build';
import { concurrentFlowsCorpus, fullFrameCorpus, liveCorpus, offlineCorpus, type Corpus } from './corpus';
import { allFailures, recordFailure } from './failures';
import { log } from './log';
import { RESULTS_DIR } from './paths';
import { stopAllChildren } from './proc';
import { profileTable, reportProfile } from './profile';
import { reportIngest } from './report';
import { runIngest, PEERS } from './ingest';
import { runLive, reportLive } from './live';
import { runMemory, reportMemory } from './memory';
import { runStore, reportStore } from './store';
import { runFederation, reportFederation } from './federation';
import { runOverload, reportOverload } from './overload';

export const SECTIONS = ['ingest', 'ingest-full', 'live', 'memory', 'store', 'federation', 'overload'] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  quick: boolean;
  profile: boolean;
  only: Set<Section>;
  runs: number;
  json: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'string' },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      `usage: npm run bench -- [--quick] [--only ${SECTIONS.join(',')}] [--runs N] [--json FILE]\n` +
        '  --quick   small corpora and fewer runs (CI smoke run, a few minutes)\n' +
        '  --only    ingest: snap-length corpus; ingest-full: full-frame corpus\n' +
        '  --runs N  runs per figure (default 3, quick 2); figures are medians with min and max\n' +
        '  --profile also profile decode + flow table once (bench/results/decode-flow-table.cpuprofile)\n',
    );
    process.exit(0);
  }
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section '${name}' (one of ${SECTIONS.join(', ')})`);
    only.add(name as Section);
  }
  const quick = values.quick ?? false;
  const runs = values.runs === undefined ? (quick ? 2 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error('--runs: an integer from 1 to 50');
  return { quick, only, runs, profile: values.profile ?? false, json: values.json ?? join(RESULTS_DIR, 'latest.json') };
}

async function main(): Promise<void> {
  const opts = options();
  const started = Date.now();
  await buildWhatTheBenchNeeds({ lab: opts.only.has('live') });
  const results: Record<string, unknown> = {
    started: new Date(started).toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    runs: opts.runs,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), loadavgAtStart: loadavg(), node: process.version },
  };
  const out: string[] = [
    `# Flowmesh bench (${opts.quick ? 'quick' : 'full'}, ${opts.runs} runs per figure, ${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}, node ${process.version})`,
  ];
  const section = async (name: Section, fn: () => Promise<string>) => {
    if (!opts.only.has(name)) return;
    log.step(`section ${name}`);
    try {
      out.push(await fn());
    } catch (error) {
      const message = (error as Error).message;
      recordFailure(`section ${name}`, message);
      results[name] = { error: message };
      out.push(`\n### ${name}\n\nfailed: ${message}\n`);
    }
    process.stdout.write(out[out.length - 1]);
  };
  process.stdout.write(out[0] + '\n');

  const ingest = async (corpus: Corpus, peers = PEERS): Promise<{ text: string; json: object }> => {
    const measured = await runIngest(corpus, opts.runs, { peers, tsharkRuns: opts.quick ? opts.runs : 1 });
    return reportIngest(measured, corpus.truth);
  };
  await section('ingest', async () => {
    const corpus = await offlineCorpus(opts.quick);
    const { text, json } = await ingest(corpus);
    results.ingest = json;
    if (!opts.profile) return text;
    log.step('profiling decode + flow table');
    const profile = await profileTable(corpus.path);
    results.profile = profile;
    return text + reportProfile(profile);
  });
  await section('ingest-full', async () => {
    // tshark dissects every payload: about 2 k full frames per second, hours for the full corpus
    const { text, json } = await ingest(await fullFrameCorpus(opts.quick), PEERS.filter((peer) => peer.name !== 'tshark'));
    results['ingest-full'] = json;
    return `${text}\ntshark is left out on full frames: it dissects every payload (about 2 k packets/s here).\n`;
  });
  await section('live', async () => {
    const live = await runLive(liveCorpus(opts.quick), opts.quick);
    results.live = live;
    return reportLive(live);
  });
  await section('memory', async () => {
    const sizes = opts.quick ? [100_000] : [100_000, 1_000_000];
    const memory = await runMemory(sizes.map(concurrentFlowsCorpus), opts.quick ? 1 : opts.runs);
    results.memory = memory;
    return reportMemory(memory);
  });
  await section('store', async () => {
    const store = await runStore(opts.quick);
    results.store = store;
    return reportStore(store);
  });
  await section('federation', async () => {
    const federation = await runFederation(opts.quick, opts.quick ? 5 : 15);
    results.federation = federation;
    return reportFederation(federation);
  });
  await section('overload', async () => {
    const overload = await runOverload(opts.quick);
    results.overload = overload;
    return reportOverload(overload);
  });

  const failures = allFailures();
  results.failures = failures;
  results.seconds = (Date.now() - started) / 1000;
  results.loadavgAtEnd = loadavg();
  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(opts.json, JSON.stringify(results, null, 2));
  if (failures.length) {
    process.stdout.write(`\n### Failures\n\n${failures.map((f) => `- ${f}`).join('\n')}\n`);
    process.exitCode = 1;
  }
  log.step(failures.length ? `done with ${failures.length} failure(s)` : 'done', { seconds: Math.round((Date.now() - started) / 1000), json: opts.json });
}

main()
  .catch((error: unknown) => {
    log.warn((error as Error).message ?? String(error));
    process.exitCode = 1;
  })
  .finally(stopAllChildren);
