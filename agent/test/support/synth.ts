/**
 * Test helper: a synthetic capture plus its ground truth in a fresh temp dir.
 *   const cap = await makeCapture({ seed: 3, flows: 100, linkType: 'raw' });
 *   ... cap.pcapPath, cap.truth.flows ...
 *   cap.cleanup();
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateCapture, readTruth, type CaptureSummary, type CaptureTruth, type GenerateOptions } from '../../src/synth';

export interface MadeCapture {
  dir: string;
  pcapPath: string;
  truthPath: string;
  summary: CaptureSummary;
  truth: CaptureTruth;
  /** Removes the temp dir. */
  cleanup(): void;
}

export async function makeCapture(options: Omit<GenerateOptions, 'out' | 'truth'> & { name?: string } = {}): Promise<MadeCapture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-synth-'));
  const { name = 'synth.pcap', ...rest } = options;
  const result = await generateCapture({ ...rest, out: path.join(dir, name), truth: path.join(dir, 'truth.json') });
  return {
    dir,
    pcapPath: result.pcapPath,
    truthPath: result.truthPath,
    summary: result.summary,
    truth: readTruth(result.truthPath),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
