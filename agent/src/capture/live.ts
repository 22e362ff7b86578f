/**
 * Live capture on one interface through libpcap: named interfaces (Ethernet link type), `any`
 * (Linux cooked SLL), WireGuard/tun devices (raw IP). One LiveCapture per interface. Packets
 * reach the PacketHandler in batches read on the event loop (binding.ts): the handler is called
 * per packet from JavaScript with the batch buffer and the packet's offset, nothing allocated.
 *
 * Notes:
 * - One batch (at most BATCH_PACKETS packets) per event-loop turn: under a sustained overload
 *   timers, the store and the HTTP API still run, and the kernel ring absorbs the excess or
 *   drops it (counted in kernelDrops). Size the ring with bufferSize.
 * - close() stops delivery at once (also from inside the handler) and releases libpcap and the
 *   poll handle immediately: an agent can close and reopen captures for as long as it runs.
 * - A handler exception is caught and counted, the capture goes on; onError hears of it.
 * - A libpcap read error (interface removed...) stops the capture and is reported to onError.
 * - stats() counters are libpcap's u32 counters since open (they wrap at 2^32).
 */
import { PacketTime } from '../decode/packet';
import { UnsupportedLinkTypeError, describeLinkType, isSupportedLinkType } from '../decode/linktypes';
import { PacketBatch, applyFilter, newNativeCapture } from './binding';
import type { PacketHandler } from './types';

export interface LiveCaptureOptions {
  /** Interface name (`eth0`, `wg0`, `any`...). */
  interface: string;
  /** BPF filter expression; empty = every packet. */
  filter?: string;
  /** Bytes captured per packet (headers plus DNS answers need little). Default 4096. */
  snapLen?: number;
  /** Kernel ring buffer size in bytes. Default 32 MiB. */
  bufferSize?: number;
  /** Promiscuous mode. Default false (a flow agent reports its own node's traffic). */
  promiscuous?: boolean;
  /** libpcap buffer timeout: how long packets may wait in the ring before delivery. Default 100 ms; 0 = immediate mode. */
  bufferTimeoutMs?: number;
  /** libpcap warnings (e.g. promiscuous mode not supported). */
  onWarning?: (message: string) => void;
  /** Called when the handler throws (after counting) or libpcap reports a read error. Must not throw. */
  onError?: (error: Error) => void;
}

export interface LiveCaptureStats {
  /** Packets libpcap received (ps_recv). */
  received: number;
  /** Dropped by the kernel because the ring was full (ps_drop). */
  kernelDrops: number;
  /** Dropped by the interface/driver (ps_ifdrop). */
  interfaceDrops: number;
  /** Packets handed to the handler. */
  delivered: number;
  /** Handler exceptions caught. */
  handlerErrors: number;
  /** libpcap read errors (each stops the capture). */
  readErrors: number;
}

export interface LiveCapture {
  readonly interface: string;
  /** DLT number of the interface's link layer. */
  readonly linkType: number;
  stats(): LiveCaptureStats;
  /** Stops capturing and releases libpcap. Idempotent. */
  close(): void;
}

export const LIVE_DEFAULTS = { snapLen: 4096, bufferSize: 32 * 1024 * 1024, promiscuous: false, bufferTimeoutMs: 100 } as const;

/**
 * Opens a live capture.
 * @throws Error naming the interface with libpcap's message (no such device, permission
 *   denied, invalid filter), or UnsupportedLinkTypeError when the link layer cannot be decoded.
 */
export function openLiveCapture(options: LiveCaptureOptions, onPacket: PacketHandler): LiveCapture {
  const name = options.interface;
  const native = newNativeCapture();
  let linkType: number;
  try {
    const warning = native.openLive(
      name,
      options.snapLen ?? LIVE_DEFAULTS.snapLen,
      options.bufferSize ?? LIVE_DEFAULTS.bufferSize,
      options.promiscuous ?? LIVE_DEFAULTS.promiscuous,
      options.bufferTimeoutMs ?? LIVE_DEFAULTS.bufferTimeoutMs,
    );
    if (warning) options.onWarning?.(warning);
    if (options.filter) applyFilter(native, options.filter);
    linkType = native.linkType();
  } catch (err) {
    native.close();
    throw new Error(`cannot capture on interface '${name}': ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!isSupportedLinkType(linkType)) {
    native.close();
    throw new UnsupportedLinkTypeError(linkType, `interface '${name}'`);
  }

  const batch = new PacketBatch(native.snapshot());
  const time = new PacketTime();
  const counters = { delivered: 0, handlerErrors: 0, readErrors: 0 };
  const lastStats: [number, number, number] = [0, 0, 0];
  let closed = false;

  const report = (error: Error): void => {
    try {
      options.onError?.(error);
    } catch {
      // the error hook must not take capture down
    }
  };
  const readStats = (): void => {
    const [received, drops, ifDrops] = native.stats();
    lastStats[0] = received;
    lastStats[1] = drops;
    lastStats[2] = ifDrops;
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      readStats(); // the final counters stay readable after close
    } catch {
      // a failed interface may refuse; keep the last counters read
    }
    native.close();
  };

  // Called by the addon once per batch; must not throw.
  const onBatch = (count: number, failure: string | undefined): void => {
    for (let i = 0; i < count && !closed; i++) {
      counters.delivered++;
      time.us = batch.tsUs(i);
      try {
        onPacket(batch.data, batch.offset(i), batch.capLen(i), batch.wireLen(i), time);
      } catch (err) {
        counters.handlerErrors++;
        report(err instanceof Error ? err : new Error(String(err)));
      }
    }
    if (failure !== undefined && !closed) {
      // Typically the interface went away; libpcap would keep failing, so stop and let the owner reopen.
      counters.readErrors++;
      close();
      report(new Error(`libpcap read error on interface '${name}' (${describeLinkType(linkType)}): ${failure}; capture stopped`));
    }
  };
  native.start(batch.data, batch.headers, onBatch);

  return {
    interface: name,
    linkType,
    stats(): LiveCaptureStats {
      if (!closed) readStats();
      return { received: lastStats[0], kernelDrops: lastStats[1], interfaceDrops: lastStats[2], ...counters };
    },
    close,
  };
}
