/**
 * Typed access to the native libpcap binding of the npm `pcap` package. Its JS wrapper
 * allocates objects per packet, so the agent drives the binding directly: dispatch() copies
 * each packet into one preallocated buffer plus a 16-byte header (tv_sec, tv_usec, caplen,
 * len as host-order u32) and calls the packet callback with no arguments.
 *
 * Binding facts that shape the callers (see node_modules/pcap/pcap_session.cc):
 * - a throw inside the packet callback is a fatal process exception, so callers catch;
 * - dispatch() loops until libpcap has no packet ready: an offline file is read whole in
 *   one synchronous call; it returns 0 at the end, -1 on a read error (no message), -2
 *   after close() (and only then releases the libpcap handle);
 * - open_* return the link type as a string ('LINKTYPE_ETHERNET', 'Unknown linktype 276').
 */
import { createRequire } from 'node:module';
import { LINK_TYPE } from '../decode/linktypes';

export interface PcapStats {
  ps_recv: number;
  ps_drop: number;
  ps_ifdrop: number;
}

/** open_live and open_offline take the same arguments (offline ignores the live-only ones). */
type OpenSession = (
  device: string,
  filter: string,
  bufferSize: number,
  snapLen: number,
  outfile: string,
  packetReady: () => void,
  monitor: boolean,
  bufferTimeoutMs: number,
  warning: (message: string) => void,
  promiscuous: boolean,
) => string;

export interface NativePcapSession {
  open_live: OpenSession;
  open_offline: OpenSession;
  dispatch(buf: Buffer, header: Buffer): number;
  start_polling(): void;
  close(): void;
  stats(): PcapStats;
  read_callback?: () => void;
}

interface NativeBinding {
  PcapSession: new () => NativePcapSession;
  lib_version(): string;
  findalldevs(): Array<{ name: string; addresses?: Array<{ addr?: string }> }>;
}

let cached: NativeBinding | undefined;

export function pcapBinding(): NativeBinding {
  if (!cached) cached = createRequire(__filename)('pcap/build/Release/pcap_binding') as NativeBinding;
  return cached;
}

export function newPcapSession(): NativePcapSession {
  return new (pcapBinding().PcapSession)();
}

/**
 * Keeps a live session's native object alive for the rest of the process. The binding embeds
 * its libuv poll handle in the session object and never uv_close()s it (FinalizeClose only
 * stops it), so once the garbage collector freed a session, libuv's handle queue would point
 * into freed memory: heap corruption that surfaces later as "free(): invalid next size".
 * Costs a few hundred bytes per live capture opened. The anchor sits on the native module's
 * exports, which Node loads once per process (a module-level array would be collected with a
 * test file's module registry under jest).
 */
export function retainForProcessLifetime(session: NativePcapSession): void {
  const binding = pcapBinding() as NativeBinding & { retainedLiveSessions?: NativePcapSession[] };
  (binding.retainedLiveSessions ??= []).push(session);
}

const NAMED_LINK_TYPES: Record<string, number> = {
  LINKTYPE_NULL: LINK_TYPE.NULL,
  LINKTYPE_ETHERNET: LINK_TYPE.ETHERNET,
  LINKTYPE_IEEE802_11_RADIO: 127,
  LINKTYPE_RAW: LINK_TYPE.RAW,
  LINKTYPE_LINUX_SLL: LINK_TYPE.LINUX_SLL,
};

/** The binding's link-type string as a DLT number. */
export function linkTypeFromBinding(text: string): number {
  const named = NAMED_LINK_TYPES[text];
  if (named !== undefined) return named;
  const match = /^Unknown linktype (\d+)$/.exec(text);
  if (!match) throw new Error(`libpcap binding returned an unrecognised link type '${text}'`);
  return Number(match[1]);
}

/** The 16-byte packet header filled by dispatch(), read in host order without allocating. */
export class PacketHeader {
  readonly buffer = Buffer.alloc(16);
  private readonly words = new Uint32Array(this.buffer.buffer, this.buffer.byteOffset, 4);

  get tsUs(): number {
    return this.words[0] * 1_000_000 + this.words[1];
  }
  get capLen(): number {
    return this.words[2];
  }
  get wireLen(): number {
    return this.words[3];
  }
}
