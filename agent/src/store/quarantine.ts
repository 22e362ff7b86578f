/**
 * Quarantined database files: a damaged database (or WAL) is renamed, never deleted, to
 * `<name>.corrupt-<timestamp>` (`...corrupt-<timestamp>.wal` for its WAL) next to it. The
 * store reports every such file it finds there — in /info, /health and the
 * flowmesh_store_quarantined_files metric — for as long as it exists: an operator inspects
 * it (salvage what DuckDB can still read, or keep it) and removes it, and the report clears.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface QuarantinedFile {
  path: string;
  bytes: number;
  /** When it was moved aside (the time in its name), ISO-8601. */
  movedAt: string;
}

const stamp = (date: Date) => date.toISOString().replace(/[:.]/g, '-');
/** 2026-03-01T12-30-05-123Z -> 2026-03-01T12:30:05.123Z */
const unstamp = (text: string) => text.replace(/T(\d\d)-(\d\d)-(\d\d)-(\d+)Z$/, 'T$1:$2:$3.$4Z');

/** Moves the database file and its WAL (`database`), or the WAL only (`wal`), aside; returns the new paths. */
export function quarantine(dbPath: string, what: 'database' | 'wal', now = new Date()): string[] {
  const aside = `${dbPath}.corrupt-${stamp(now)}`;
  const moves: [string, string][] = [[`${dbPath}.wal`, `${aside}.wal`]];
  if (what === 'database') moves.unshift([dbPath, aside]);
  const moved: string[] = [];
  for (const [from, to] of moves) {
    if (!fs.existsSync(from)) continue;
    fs.renameSync(from, to);
    moved.push(to);
  }
  return moved;
}

/** The quarantined files next to the database, oldest first. */
export function findQuarantined(dbPath: string): QuarantinedFile[] {
  const dir = path.dirname(dbPath);
  const prefix = `${path.basename(dbPath)}.corrupt-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const found: QuarantinedFile[] = [];
  for (const name of names.filter((n) => n.startsWith(prefix)).sort()) {
    const file = path.join(dir, name);
    try {
      const bytes = fs.statSync(file).size;
      found.push({ path: file, bytes, movedAt: unstamp(name.slice(prefix.length).replace(/\.wal$/, '')) });
    } catch {
      // removed while listing: nothing to report
    }
  }
  return found;
}
