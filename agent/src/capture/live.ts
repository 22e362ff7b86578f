/**
 * Live capture on an interface through libpcap: named interfaces (Ethernet link type),
 * `any` (Linux cooked SLL), WireGuard/tun devices (raw IP). Packets go to a PacketHandler
 * through one preallocated buffer; libpcap's receive/drop counters are readable any time.
 *
 * Notes:
 * - libpcap's poll handle keeps the event loop alive until the handle is released. close()
 *   stops delivery at once, but in non-blocking mode libpcap only honours the break (and the
 *   binding only frees the handle) at the next dispatch that finds a packet: on an idle
 *   interface (or one whose packets the filter rejects) that is the next matching packet.
 *   A shutting-down process should not wait for the event loop to drain; exit explicitly.
 * - The binding's dispatch() drains every packet the kernel has ready before returning, so
 *   under a sustained overload that the handler cannot keep up with, the event loop is held
 *   by capture and the kernel ring drops packets (counted in kernelDrops). Keep the handler
 *   cheap; size the ring with bufferSize.
 * - A handler exception is caught and counted (a throw would abort the process inside the
 *   binding); the first one and the latest one are kept for logs.
 * - A libpcap read error (interface removed...) stops the capture and is reported to onError.
 * - stats() counters are libpcap's u32 counters since open (they wrap at 2^32).
 */
import { PacketTime } from '../decode/packet';
import { UnsupportedLinkTypeError, describeLinkType, isSupportedLinkType } from '../decode/linktypes';
import { PacketHeader, linkTypeFromBinding, newPcapSession, retainForProcessLifetime } from './binding';
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
  /** libpcap warnings (e.g. no IPv4 address on the interface). */
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
  /** libpcap read errors (dispatch returned -1). */
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
 * @throws Error with libpcap's message (no such device, permission denied, bad filter), or
 *   UnsupportedLinkTypeError when the interface's link layer cannot be decoded.
 */
export function openLiveCapture(options: LiveCaptureOptions, onPacket: PacketHandler): LiveCapture {
  const snapLen = options.snapLen ?? LIVE_DEFAULTS.snapLen;
  const buf = Buffer.alloc(Math.max(snapLen, 64));
  const header = new PacketHeader();
  const time = new PacketTime();
  const session = newPcapSession();
  retainForProcessLifetime(session);
  const counters = { delivered: 0, handlerErrors: 0, readErrors: 0 };
  let closed = false;
  let finalized = false;
  const lastStats = { ps_recv: 0, ps_drop: 0, ps_ifdrop: 0 };
  const report = (error: Error): void => {
    try {
      options.onError?.(error);
    } catch {
      // the error hook must not take capture down
    }
  };

  const packetReady = (): void => {
    if (closed) return;
    try {
      counters.delivered++;
      time.us = header.tsUs;
      onPacket(buf, 0, Math.min(header.capLen, buf.length), header.wireLen, time);
    } catch (err) {
      counters.handlerErrors++;
      report(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const name = options.interface;
  let linkType: number;
  try {
    const text = session.open_live(
      name,
      options.filter ?? '',
      options.bufferSize ?? LIVE_DEFAULTS.bufferSize,
      snapLen,
      '',
      packetReady,
      false,
      options.bufferTimeoutMs ?? LIVE_DEFAULTS.bufferTimeoutMs,
      (message) => options.onWarning?.(message),
      options.promiscuous ?? LIVE_DEFAULTS.promiscuous,
    );
    linkType = linkTypeFromBinding(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot capture on interface '${name}': ${message}`, { cause: err });
  }

  const release = (): void => {
    if (finalized) return;
    session.close();
    // close() only asks libpcap to break; the next dispatch returns -2 and frees the handle.
    for (let attempt = 0; attempt < 100 && !finalized; attempt++) {
      if (session.dispatch(buf, header.buffer) === -2) finalized = true;
    }
  };

  if (!isSupportedLinkType(linkType)) {
    closed = true;
    release();
    throw new UnsupportedLinkTypeError(linkType, `interface '${name}'`);
  }

  session.read_callback = () => {
    if (finalized) return;
    const status = session.dispatch(buf, header.buffer);
    if (status === -2) finalized = true;
    else if (status === -1) {
      // Typically the interface went away; libpcap would keep failing, so stop and let the owner reopen.
      counters.readErrors++;
      closed = true;
      release();
      report(new Error(`libpcap read error on interface '${name}' (${describeLinkType(linkType)}); capture stopped`));
    }
  };
  session.start_polling();
  process.nextTick(() => session.read_callback?.()); // packets that arrived before polling started

  return {
    interface: name,
    linkType,
    stats(): LiveCaptureStats {
      if (!finalized) {
        const s = session.stats();
        lastStats.ps_recv = s.ps_recv;
        lastStats.ps_drop = s.ps_drop;
        lastStats.ps_ifdrop = s.ps_ifdrop;
      }
      return {
        received: lastStats.ps_recv,
        kernelDrops: lastStats.ps_drop,
        interfaceDrops: lastStats.ps_ifdrop,
        ...counters,
      };
    },
    close(): void {
      if (closed) return;
      if (!finalized) this.stats(); // keep the final counters readable after close
      closed = true;
      release();
    },
  };
}
