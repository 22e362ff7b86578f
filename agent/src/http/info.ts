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
      }),
      Type.Null(),
    ]),
    retention: Type.Object({ days: Type.Number({ description: 'Records older than this are deleted; 0 keeps everything' }) }),
  },
  { $id: 'AgentInfo', additionalProperties: false },
);
export type AgentInfo = Static<typeof AgentInfoSchema>;

export const HealthSchema = Type.Object(
  { status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]), version: Type.String() },
  { $id: 'Health', additionalProperties: false },
);
export type Health = Static<typeof HealthSchema>;
