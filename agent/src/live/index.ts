/**
 * The live view behind include_open queries: at one instant, the flows still open in the
 * flow table (their current periods so far) and the records the store holds but has not
 * committed, together with which database rows a query consistent with that instant may
 * read. Everything is read synchronously in one step of the event loop, so no packet is
 * processed and no record emitted or committed in between; records emitted or committed
 * later are excluded by rid, so a query never counts a record both as open (or pending)
 * and as stored, however long it waits for a connection.
 *
 * Cost: nothing per packet; per query one walk over the flow table's lists (typed arrays)
 * and a record object for each open flow in the query's time range, at most `maxRecords`
 * open and pending records in all (the rest are counted as omitted).
 */
import type { FlowTable } from '../flowtable/flowTable';
import type { FlowRecord } from '../model/flow';
import type { PendingView } from '../store/flow-store';

/** Which records a query needs: those whose period overlaps [fromUs, toUs) (flows), or that start in it (aggregates). */
export interface LiveRange {
  fromUs: number;
  toUs: number;
  overlap: boolean;
}

export interface LiveSnapshot {
  /** Wall clock of the instant, epoch µs. */
  asOfUs: number;
  /** Open records first, then pending ones, all within the range. */
  records: FlowRecord[];
  openRecords: number;
  pendingRecords: number;
  omittedRecords: number;
  /** Database rows a consistent query may read: rid below this and outside hiddenRids. */
  ridLimit: number;
  hiddenRids: [number, number][];
  /**
   * Every record committed after the instant (pending then, or emitted later) starts at or
   * after this time (epoch µs), so data starting earlier is final (rollups of earlier minutes
   * are safe to read).
   */
  settledBeforeUs: number;
}

export interface LiveSource {
  snapshot(range: LiveRange): LiveSnapshot;
}

/** Room for packet timestamps that step back a little across capture queues. */
const CLOCK_SLACK_US = 1_000_000;

export const DEFAULT_LIVE_MAX_RECORDS = 20_000;

export class LiveFlows implements LiveSource {
  constructor(
    private readonly table: Pick<FlowTable, 'snapshotOpen'>,
    private readonly store: { pendingView(): PendingView },
    private readonly maxRecords = DEFAULT_LIVE_MAX_RECORDS,
  ) {}

  snapshot(range: LiveRange): LiveSnapshot {
    const { fromUs, toUs } = range;
    const keep = range.overlap
      ? (startUs: number, endUs: number) => startUs < toUs && endUs >= fromUs
      : (startUs: number) => startUs >= fromUs && startUs < toUs;
    const open = this.table.snapshotOpen(this.maxRecords, keep);
    const pending = this.store.pendingView();
    const records = open.records;
    let earliestUs = open.earliestNextStartUs;
    let pendingRecords = 0;
    let omittedRecords = open.omitted;
    for (const r of pending.records) {
      if (r.start_us < earliestUs) earliestUs = r.start_us;
      if (!keep(r.start_us, r.end_us)) continue;
      if (records.length < this.maxRecords) {
        records.push(r);
        pendingRecords++;
      } else {
        omittedRecords++;
      }
    }
    return {
      asOfUs: Date.now() * 1000,
      records,
      openRecords: open.records.length,
      pendingRecords,
      omittedRecords,
      ridLimit: pending.ridLimit,
      hiddenRids: pending.hiddenRids,
      settledBeforeUs: earliestUs - CLOCK_SLACK_US,
    };
  }
}
