/**
 * The disk part of the store's spill: while the database cannot be written and the records
 * held in memory reach `maxBacklog`, the newest records go to JSON-lines files in
 * `spillDir` (at most `spillMaxBytes`), and come back once writing works again — also after
 * a restart: files left by an earlier run are picked up at start.
 *
 * A file is complete or absent: written under a temporary name, then renamed; its name
 * carries its record count (`<db>-<hash>.spill-<ms>-<seq>-<count>.jsonl`), so the files
 * are accounted for at start without reading them. Stored at most once: before the
 * transaction that stores a file's records, the file is renamed with that transaction's rid
 * range (`....jsonl.rid-<first>-<count>`), and deleted after the commit. A file found with a
 * rid range is resolved against the database before anything else is written: the range
 * present means it was committed (the file is deleted), absent means it was not (it is
 * written again). Records of a transaction whose outcome is unknown at shutdown are spilled
 * with their rid range the same way.
 *
 * Writes are synchronous: spilling only happens while the store is degraded, and a producer
 * that never yields (a capture file read in one native call) must be able to spill too.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FlowRecord } from '../model/flow';

/** The rid range of a transaction that stores (or stored) a file's records. */
export interface RidRange {
  firstRid: number;
  count: number;
}

export interface SpillFile {
  path: string;
  records: number;
  bytes: number;
  transaction: RidRange | null;
}

const NAME = /\.spill-\d{13}-\d{6}-(\d+)\.jsonl(?:\.rid-(\d+)-(\d+))?$/;
const RID_MARK = /\.rid-\d+-\d+$/;

export class DiskSpill {
  private readonly files: SpillFile[] = [];
  private seq = 0;
  records = 0;
  bytes = 0;

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly prefix: string,
  ) {}

  /** The spill of the database at `dbPath` in `dir` (created when missing), with the files an earlier run left there. */
  static open(dir: string, maxBytes: number, dbPath: string): DiskSpill {
    fs.mkdirSync(dir, { recursive: true });
    const prefix = `${path.basename(dbPath)}-${createHash('sha256').update(path.resolve(dbPath)).digest('hex').slice(0, 8)}`;
    const spill = new DiskSpill(dir, maxBytes, prefix);
    for (const name of fs.readdirSync(dir).sort()) {
      if (!name.startsWith(`${prefix}.spill-`)) continue;
      const file = path.join(dir, name);
      if (name.endsWith('.tmp')) {
        fs.rmSync(file, { force: true }); // an interrupted write: its records were still held in memory then
        continue;
      }
      const match = NAME.exec(name);
      if (!match) continue;
      const transaction = match[2] === undefined ? null : { firstRid: Number(match[2]), count: Number(match[3]) };
      spill.add({ path: file, records: Number(match[1]), bytes: fs.statSync(file).size, transaction });
    }
    return spill;
  }

  get fileCount(): number {
    return this.files.length;
  }

  /** Files carrying a rid range, to check against the database before anything else is written. */
  inDoubt(): SpillFile[] {
    return this.files.filter((f) => f.transaction !== null);
  }

  oldest(): SpillFile | undefined {
    return this.files[0];
  }

  /**
   * Writes the records to a new file (with the rid range of the transaction that may have
   * stored them, when that is unknown). Returns false, writing nothing, when the file would
   * exceed maxBytes; throws the file system's error (e.g. ENOSPC) when the write fails.
   */
  write(records: readonly FlowRecord[], transaction: RidRange | null = null): boolean {
    let text = '';
    for (const record of records) text += JSON.stringify(record) + '\n';
    const bytes = Buffer.byteLength(text);
    if (this.bytes + bytes > this.maxBytes) return false;
    const seq = String(this.seq++ % 1e6).padStart(6, '0');
    const mark = transaction ? `.rid-${transaction.firstRid}-${transaction.count}` : '';
    const file = path.join(this.dir, `${this.prefix}.spill-${Date.now()}-${seq}-${records.length}.jsonl${mark}`);
    try {
      fs.writeFileSync(`${file}.tmp`, text);
      fs.renameSync(`${file}.tmp`, file);
    } catch (error) {
      fs.rmSync(`${file}.tmp`, { force: true });
      throw error;
    }
    this.add({ path: file, records: records.length, bytes, transaction });
    return true;
  }

  /** The file's records (a line that does not parse is left out: the caller counts it from the file's record count). */
  async read(file: SpillFile): Promise<FlowRecord[]> {
    const text = await fs.promises.readFile(file.path, 'utf8');
    const records: FlowRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line) as FlowRecord);
      } catch {
        // counted as dropped (invalid) by the caller
      }
    }
    return records;
  }

  /** Records the rid range of the transaction about to store the file (see the header), or clears it (null). */
  setTransaction(file: SpillFile, transaction: RidRange | null): void {
    const plain = file.path.replace(RID_MARK, '');
    const renamed = transaction ? `${plain}.rid-${transaction.firstRid}-${transaction.count}` : plain;
    if (renamed !== file.path) fs.renameSync(file.path, renamed);
    file.path = renamed;
    file.transaction = transaction;
  }

  /** Forgets and deletes a file whose records are stored (or counted as dropped). */
  remove(file: SpillFile): void {
    const index = this.files.indexOf(file);
    if (index < 0) return;
    this.files.splice(index, 1);
    this.records -= file.records;
    this.bytes -= file.bytes;
    fs.rmSync(file.path, { force: true });
  }

  private add(file: SpillFile): void {
    this.files.push(file);
    this.records += file.records;
    this.bytes += file.bytes;
  }
}
