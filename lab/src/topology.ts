/**
 * Ready-made topologies on top of netns.ts and wireguard.ts, shared by the live tests, the
 * mesh lab and end-to-end tests.
 *
 * Two nodes joined by a veth underlay and a WireGuard tunnel:
 *
 *   ns fm-<id>-a                              ns fm-<id>-b
 *   ┌───────────────────────┐                 ┌───────────────────────┐
 *   │ fm-<id>-a-wg          │ WireGuard (UDP) │ fm-<id>-b-wg          │
 *   │   10.100.0.1/24       │ ═══════════════ │   10.100.0.2/24       │
 *   │ fm-<id>-a-u           │   veth pair     │ fm-<id>-b-u           │
 *   │   10.200.0.1/30       │ ─────────────── │   10.200.0.2/30       │
 *   └───────────────────────┘                 └───────────────────────┘
 */
import { Lab, type Namespace } from './netns';
import { addPeer, addWireGuard, type WireGuardInterface } from './wireguard';

export interface TunnelEnd {
  ns: Namespace;
  wg: WireGuardInterface;
  underlayIp: string;
  /** The veth end carrying the underlay (Ethernet). */
  underlayIf: string;
}

export interface TwoNodeTunnel {
  lab: Lab;
  a: TunnelEnd;
  b: TunnelEnd;
}

export const TWO_NODE_ADDRESSES = {
  a: { underlay: '10.200.0.1', tunnel: '10.100.0.1' },
  b: { underlay: '10.200.0.2', tunnel: '10.100.0.2' },
} as const;

/** Builds the two-node tunnel in `lab` (creating a Lab when none is given). */
export function twoNodeTunnel(lab: Lab = new Lab()): TwoNodeTunnel {
  const nsA = lab.namespace('a');
  const nsB = lab.namespace('b');
  const { a, b } = TWO_NODE_ADDRESSES;
  const [underlayA, underlayB] = lab.veth(nsA, 'a-u', `${a.underlay}/30`, nsB, 'b-u', `${b.underlay}/30`);
  const wgA = addWireGuard(lab, nsA, 'a-wg', { cidr: `${a.tunnel}/24`, endpointIp: a.underlay });
  const wgB = addWireGuard(lab, nsB, 'b-wg', { cidr: `${b.tunnel}/24`, endpointIp: b.underlay });
  addPeer(wgA, wgB);
  addPeer(wgB, wgA);
  return {
    lab,
    a: { ns: nsA, wg: wgA, underlayIp: a.underlay, underlayIf: underlayA },
    b: { ns: nsB, wg: wgB, underlayIp: b.underlay, underlayIf: underlayB },
  };
}
