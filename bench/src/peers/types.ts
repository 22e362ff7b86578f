/** What every peer tool run reports, in its own units (the agreement section normalises them). */
export interface PeerRun {
  /** Wall time of the ingest process (the figure rates are computed from). */
  seconds: number;
  /** User + system CPU seconds of the ingest process (NaN when GNU time is missing). */
  cpuSeconds: number;
  /** Connections (bidirectional tools) or directional flows (NetFlow-style tools) found. */
  flows: number;
  flowKind: 'bidirectional' | 'unidirectional';
  packets: number;
  bytes: number;
  /** `ip`: IP header + payload (the agent's definition); `frame`: link-layer frame bytes. */
  bytesKind: 'ip' | 'frame';
  /** Bytes are rounded by the tool's output (tshark prints kB/MB). */
  bytesApproximate?: boolean;
  note?: string;
}

export interface Peer {
  name: string;
  /** How the tool was run, for the report. */
  command: string;
  /** Executables the peer needs on PATH. */
  requires: string[];
  run(pcap: string, workDir: string): Promise<PeerRun>;
}
