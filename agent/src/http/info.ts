/** The /info answer: what an operator or the plugin's health check wants to know about an agent. */
import { Type, type Static } from '@sinclair/typebox';

const Count = Type.Integer({ minimum: 0 });

export const AgentInfoSchema = Type.Object(
  {
    node: Type.String({ description: 'Node name (records carry it in `node`)' }),
    version: Type.String({ description: 'Agent software version' }),
    api_version: Type.Integer({ description: 'Query API version' }),
    started_at: Type.String({ description: 'Process start, ISO-8601' }),
    uptime_s: Type.Number(),
    interfaces: Type.Array(Type.String(), { description: 'Capture interfaces (empty when only serving)' }),
    local_addresses: Type.Array(Type.String(), { description: 'Addresses treated as this node (direction)' }),
    capture: Type.Array(
      Type.Object({ interface: Type.String(), received: Count, kernel_drops: Count, if_drops: Count }),
      { description: 'libpcap counters per interface' },
    ),
    store: Type.Union([
      Type.Object({
        path: Type.String(),
        db_bytes: Count,
        records: Count,
        oldest_us: Type.Union([Type.Integer(), Type.Null()], { description: 'Earliest record start, epoch µs' }),
        newest_us: Type.Union([Type.Integer(), Type.Null()], { description: 'Latest record end, epoch µs' }),
        rows_written: Count,
        backlog_records: Count,
        backlog_dropped: Count,
        state: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], { description: 'degraded while writes fail or a damaged file is quarantined' }),
        problems: Type.Array(Type.String(), { description: 'What is wrong and what the agent does about it (empty when ok)' }),
        writes_failing_since: Type.Union([Type.String(), Type.Null()], { description: 'ISO-8601; null while writes work' }),
        received: Type.Integer({ minimum: 0, description: 'Records handed to the store: received = rows_written + backlog_records + backlog_dropped' }),
        spilled_records: Type.Integer({ minimum: 0, description: 'Of backlog_records, those in spill files on disk' }),
        dropped: Type.Object({ full: Count, invalid: Count, shutdown: Count }, { description: 'backlog_dropped by reason' }),
        reopens: Type.Integer({ minimum: 0, description: 'Times the database was opened again while running' }),
        quarantined: Type.Array(
          Type.Object({ path: Type.String(), bytes: Count, moved_at: Type.String() }),
          { description: 'Damaged database files moved aside (reported until removed)' },
        ),
      }),
      Type.Null(),
    ]),
    retention: Type.Object({ days: Type.Number({ description: 'Records older than this are deleted; 0 keeps everything' }) }),
  },
  { $id: 'AgentInfo', additionalProperties: false },
);
export type AgentInfo = Static<typeof AgentInfoSchema>;

export const HealthSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], { description: 'degraded: answered with HTTP 503' }),
    version: Type.String(),
    problems: Type.Optional(Type.Array(Type.String(), { description: 'What is degraded (the same sentences as /info store.problems)' })),
  },
  { $id: 'Health', additionalProperties: false },
);
export type Health = Static<typeof HealthSchema>;
