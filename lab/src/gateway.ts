/**
 * A user device behind a WireGuard routing peer with a LAN route and an exit route, the
 * way NetBird routing peers, Netmaker egress gateways and Tailscale exit nodes work:
 *
 *   ns user                     ns gw (routing peer: forwards)
 *   ┌────────────────────┐      ┌───────────────────────────────┐   ns lan
 *   │ u-wg 100.70.0.2/24 │═════ │ g-wg 100.70.0.1/24            │   ┌──────────────────────┐
 *   │ u-ul 10.210.0.2/30 │──────│ g-ul 10.210.0.1/30  (underlay)│   │ l-e 192.168.60.10/24 │
 *   └────────────────────┘      │ g-lan 192.168.60.1/24 ────────┼───┤ (routed, no NAT)     │
 *   the gateway peer's allowed  │ g-up 203.0.113.1/24 ──────────┼─┐ └──────────────────────┘
 *   IPs: 100.70.0.1/32 (its own)│   masquerade out of g-up      │ │ ns inet
 *   192.168.60.0/24 (LAN route) └───────────────────────────────┘ └─ i-e 203.0.113.10 and .20/24
 *   0.0.0.0/0 (exit route)
 *
 * The user device routes the LAN and everything else (default) into its tunnel; the
 * gateway masquerades what leaves its uplink. IPv6 is off in every namespace so no router
 * or neighbour solicitations add traffic nobody asked for. Nothing here touches the root
 * namespace: processes that need to reach both agents run inside the gateway's namespace,
 * which reaches the user device over the underlay.
 */
import type { Lab, Namespace } from './netns';
import { addPeer, addWireGuard, type WireGuardInterface } from './wireguard';

export const GATEWAY_PLAN = {
  userUnderlay: '10.210.0.2',
  gwUnderlay: '10.210.0.1',
  userTunnel: '100.70.0.2',
  gwTunnel: '100.70.0.1',
  lanCidr: '192.168.60.0/24',
  gwLanIp: '192.168.60.1',
  lanHostIp: '192.168.60.10',
  gwUplinkIp: '203.0.113.1',
  /** Named in the inventory (external). */
  namedInetIp: '203.0.113.10',
  /** Named nowhere: must stay an unnamed external destination, never the gateway. */
  unnamedInetIp: '203.0.113.20',
} as const;

export interface GatewayLab {
  lab: Lab;
  user: { ns: Namespace; wg: WireGuardInterface };
  gw: { ns: Namespace; wg: WireGuardInterface; lanIf: string; uplinkIf: string };
  lan: { ns: Namespace; ip: string };
  inet: { ns: Namespace };
}

function withoutIpv6(ns: Namespace): Namespace {
  for (const key of ['all', 'default']) ns.run('sysctl', ['-q', '-w', `net.ipv6.conf.${key}.disable_ipv6=1`]);
  return ns;
}

/** Builds the topology inside `lab` (root only). */
export function buildGatewayLab(lab: Lab): GatewayLab {
  const p = GATEWAY_PLAN;
  const userNs = withoutIpv6(lab.namespace('user'));
  const gwNs = withoutIpv6(lab.namespace('gw'));
  const lanNs = withoutIpv6(lab.namespace('lan'));
  const inetNs = withoutIpv6(lab.namespace('inet'));

  lab.veth(userNs, 'u-ul', `${p.userUnderlay}/30`, gwNs, 'g-ul', `${p.gwUnderlay}/30`);
  const userWg = addWireGuard(lab, userNs, 'u-wg', { cidr: `${p.userTunnel}/24`, endpointIp: p.userUnderlay });
  const gwWg = addWireGuard(lab, gwNs, 'g-wg', { cidr: `${p.gwTunnel}/24`, endpointIp: p.gwUnderlay });
  addPeer(userWg, gwWg, [`${p.gwTunnel}/32`, p.lanCidr, '0.0.0.0/0']);
  addPeer(gwWg, userWg, [`${p.userTunnel}/32`]);
  userNs.addRoute(p.lanCidr, { dev: userWg.name });
  userNs.addRoute('default', { dev: userWg.name });

  gwNs.enableForwarding();
  const [lanIf] = lab.veth(gwNs, 'g-lan', `${p.gwLanIp}/24`, lanNs, 'l-e', `${p.lanHostIp}/24`);
  lanNs.addRoute('default', { gateway: p.gwLanIp });
  const [uplinkIf, inetIf] = lab.veth(gwNs, 'g-up', `${p.gwUplinkIp}/24`, inetNs, 'i-e', `${p.namedInetIp}/24`);
  inetNs.addAddress(inetIf, `${p.unnamedInetIp}/24`);
  gwNs.nft(
    `table ip fm_lab_nat {\n  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n    oifname "${uplinkIf}" masquerade\n  }\n}\n`,
  );
  return {
    lab,
    user: { ns: userNs, wg: userWg },
    gw: { ns: gwNs, wg: gwWg, lanIf, uplinkIf },
    lan: { ns: lanNs, ip: p.lanHostIp },
    inet: { ns: inetNs },
  };
}
