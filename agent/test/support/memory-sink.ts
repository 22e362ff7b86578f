/**
 * Test helper: a FlowSink that keeps every record in memory (in write order) and counts
 * flushes, so a test can compare what the flow table emitted against what it expects.
 */
import type { FlowRecord, FlowSink } from '../../src/model/flow';

export class MemorySink implements FlowSink {
  records: FlowRecord[] = [];
  flushes = 0;
  write(r: FlowRecord): void {
    this.records.push(r);
  }
  async flush(): Promise<void> {
    this.flushes++;
  }
  async close(): Promise<void> {}
}
