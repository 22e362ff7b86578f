/**
 * Zeek's connection state (conn_state) computed from per-endpoint TCP state, following
 * Zeek's TCP analyzer endpoint state machine (TCP_ENDPOINT_* transitions in
 * analyzer/protocol/tcp) and the conn_state() function of base/protocols/conn:
 *
 *   S0 attempt seen, no reply          S1 established, not terminated
 *   SF normal establishment and end    REJ attempt rejected
 *   S2 established, originator closed (no reply)   S3 established, responder closed (no reply)
 *   RSTO originator aborted            RSTR responder aborted
 *   RSTOS0 originator SYN then RST, no SYN-ACK     RSTRH responder SYN-ACK then RST, no SYN seen
 *   SH originator SYN then FIN, no SYN-ACK         SHR responder SYN-ACK then FIN, no SYN seen
 *   OTH no SYN seen, midstream traffic
 * Non-TCP: SF both sides sent, S0 only the originator, SHR only the responder.
 *
 * State lives in five bytes of each flow's record in the flow table's buffer (so a packet
 * finds it in a cache line it reads anyway); updating it allocates nothing. Payload "size" (Zeek's c$orig$size) is approximated by whether the
 * side ever sent a segment with payload.
 */
import { TCP_FLAGS, type ConnState } from '../model/vocabulary';

const INACTIVE = 0;
const SYN_SENT = 1;
const SYN_ACK_SENT = 2;
const PARTIAL = 3;
const ESTABLISHED = 4;
const CLOSED = 5;
const RESET = 6;

// per-flow bits
const HISTORY_STARTED = 1;
/** The first packet of the connection was a pure SYN from the originator (history starts with S). */
const HISTORY_STARTS_S = 2;
/** The originator sent H/A/F/I/Q (history letters) before its first RST. */
const ORIG_ACKED_BEFORE_RST = 4;
const ORIG_SENT_RST = 8;
const ORIG_DATA = 16;
const RESP_DATA = 32;

const { FIN, SYN, RST, ACK } = TCP_FLAGS;

/** Byte offsets in a flow's five bytes: endpoint state (originator, responder), their previous states, bits. */
const STATE = 0;
const PREV = 2;
const BITS = 4;

export class TcpConnStates {
  /**
   * @param bytes the flow records; flow f's five bytes start at f * stride + at
   */
  constructor(private readonly bytes: Uint8Array, private readonly stride: number, private readonly at: number) {}

  /** Where flow's bytes start. */
  private base(flow: number): number {
    return flow * this.stride + this.at;
  }

  reset(flow: number): void {
    const b = this.base(flow);
    for (let i = 0; i < 5; i++) this.bytes[b + i] = INACTIVE;
  }

  /** Sets endpoint state at byte `index` (STATE + 0 or 1 from a flow's base), keeping the previous one. */
  private set(index: number, s: number): void {
    const bytes = this.bytes;
    if (bytes[index] !== s) {
      bytes[index + PREV] = bytes[index];
      bytes[index] = s;
    }
  }

  /** Feeds one TCP segment sent by the originator (fromOrig) or the responder. */
  update(flow: number, fromOrig: boolean, flags: number, payloadLength: number): void {
    const b = this.base(flow);
    const ep = b + STATE + (fromOrig ? 0 : 1);
    const peer = b + STATE + (fromOrig ? 1 : 0);
    const state = this.bytes;
    const syn = (flags & SYN) !== 0, fin = (flags & FIN) !== 0, rst = (flags & RST) !== 0, ack = (flags & ACK) !== 0;
    this.updateHistory(flow, fromOrig, syn, fin, rst, ack, payloadLength);

    switch (state[ep]) {
      case INACTIVE:
        if (syn) {
          if (fromOrig) this.set(ep, ack ? SYN_ACK_SENT : SYN_SENT);
          else {
            // SYN-ACK (or simultaneous open): the originator's SYN_SENT becomes established.
            if ((!ack && state[peer] === SYN_ACK_SENT) || state[peer] === SYN_SENT) this.set(peer, ESTABLISHED);
            this.set(ep, ESTABLISHED);
          }
        }
        if (fin) this.set(ep, CLOSED);
        if (rst) this.set(ep, RESET);
        if (state[ep] === INACTIVE) {
          if (!fromOrig && payloadLength === 0 && state[b + STATE] === SYN_SENT) {
            // an ACK of the SYN before the SYN-ACK: not a partial connection
          } else if (ack && state[peer] === ESTABLISHED) this.set(ep, ESTABLISHED);
          else this.set(ep, PARTIAL);
        }
        break;
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (fin) this.set(ep, CLOSED);
        if (rst) this.set(ep, RESET);
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (syn && state[ep] === PARTIAL && state[peer] === INACTIVE && !ack) this.set(ep, SYN_SENT);
        if (fin && !rst) {
          this.set(ep, CLOSED);
          // FIN followed by RST from the peer was a normal termination after all
          if (state[peer] === RESET && state[peer + PREV] === CLOSED) this.set(peer, CLOSED);
        }
        if (rst) this.set(ep, RESET);
        break;
      case CLOSED:
        if (rst && state[peer] !== CLOSED) this.set(ep, RESET);
        break;
      default:
        break;
    }
  }

  private updateHistory(flow: number, fromOrig: boolean, syn: boolean, fin: boolean, rst: boolean, ack: boolean, len: number): void {
    const at = this.base(flow) + BITS;
    let b = this.bytes[at];
    const controlBits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (!(b & HISTORY_STARTED)) {
      b |= HISTORY_STARTED;
      if (fromOrig && controlBits === 1 && syn && !ack) b |= HISTORY_STARTS_S;
    }
    if (len > 0) b |= fromOrig ? ORIG_DATA : RESP_DATA;
    if (fromOrig && !(b & ORIG_SENT_RST)) {
      // letters H (SYN-ACK), A (pure ACK), F, I (FIN+RST), Q (multi-flag) before the first R
      const h = controlBits === 1 && syn && ack;
      const a = controlBits === 0 && ack && len === 0;
      const f = controlBits === 1 && fin;
      if (controlBits > 1 || h || a || f) b |= ORIG_ACKED_BEFORE_RST;
      if (controlBits === 1 && rst) b |= ORIG_SENT_RST;
    }
    this.bytes[at] = b;
  }

  connState(flow: number): ConnState {
    const b = this.base(flow);
    const os = this.bytes[b + STATE];
    const rs = this.bytes[b + STATE + 1];
    const bits = this.bytes[b + BITS];
    const oInactive = os === INACTIVE || os === PARTIAL;
    const rInactive = rs === INACTIVE || rs === PARTIAL;
    if (rs === RESET) {
      if (os === SYN_SENT || os === SYN_ACK_SENT || (os === RESET && !(bits & (ORIG_DATA | RESP_DATA)))) return 'REJ';
      return oInactive ? 'RSTRH' : 'RSTR';
    }
    if (os === RESET) {
      if (rInactive) {
        const synThenRst = (bits & HISTORY_STARTS_S) && (bits & ORIG_SENT_RST) && !(bits & ORIG_ACKED_BEFORE_RST);
        return synThenRst ? 'RSTOS0' : 'OTH';
      }
      return 'RSTO';
    }
    if (rs === CLOSED && os === CLOSED) return 'SF';
    if (os === CLOSED) return rInactive ? 'SH' : 'S2';
    if (rs === CLOSED) return oInactive ? 'SHR' : 'S3';
    if (os === SYN_SENT && rs === INACTIVE) return 'S0';
    if (os === ESTABLISHED && rs === ESTABLISHED) return 'S1';
    return 'OTH';
  }
}

/** Non-TCP protocols: which sides have sent anything. */
export function connStateWithoutTcp(srcSent: boolean, dstSent: boolean): ConnState {
  if (srcSent) return dstSent ? 'SF' : 'S0';
  return dstSent ? 'SHR' : 'OTH';
}
