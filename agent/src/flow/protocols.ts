/**
 * Protocol numbers and names, and the service-port heuristic that picks a flow's initiator
 * when capture began mid-flow.
 */
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;

const NAMES: Record<number, string> = { [PROTO_ICMP]: 'icmp', [PROTO_TCP]: 'tcp', [PROTO_UDP]: 'udp', [PROTO_ICMPV6]: 'icmpv6' };

/** tcp, udp, icmp, icmpv6, or ip-<number> (the record's `protocol` field). */
export function protocolName(protocol: number): string {
  return NAMES[protocol] ?? `ip-${protocol}`;
}

export function isIcmp(protocol: number): boolean {
  return protocol === PROTO_ICMP || protocol === PROTO_ICMPV6;
}

/** ICMP echo request/reply types: the identifier plays the port for these. */
export function isIcmpEcho(protocol: number, type: number): boolean {
  return protocol === PROTO_ICMP ? type === 8 || type === 0 : protocol === PROTO_ICMPV6 && (type === 128 || type === 129);
}

/** ICMP reply types: a flow first seen with one of these was initiated by the other side. */
export function isIcmpReply(protocol: number, type: number): boolean {
  if (protocol === PROTO_ICMP) return type === 0 || type === 14 || type === 16 || type === 18;
  return protocol === PROTO_ICMPV6 && type === 129;
}

/**
 * Registered service ports above 1023 that servers listen on (every port below 1024 counts
 * as a service port too). Ports that either peer may initiate from (WireGuard 51820,
 * Tailscale 41641) and the ephemeral range (32768+) are left out on purpose.
 * Used only to correct the initiator of flows whose first packet
 * was not a SYN: when the first packet comes from a service port to a non-service port,
 * its receiver is the initiator.
 */
const SERVICE_PORTS = new Set([
  1080, 1194, 1433, 1521, 1701, 1723, 1812, 1813, 1883, 2049, 2375, 2376, 2379, 2380, 3000, 3128, 3306, 3389,
  3478, 4369, 4500, 5000, 5060, 5061, 5201, 5222, 5353, 5355, 5432, 5601, 5672, 5900, 6379, 6443, 6881, 7946,
  8000, 8008, 8080, 8081, 8086, 8088, 8443, 8500, 8883, 8888, 9000, 9090, 9092, 9093, 9100, 9200, 9300, 9418,
  9477, 10250, 11211, 15672, 25565, 27017
]);

export function isServicePort(port: number): boolean {
  return (port > 0 && port < 1024) || SERVICE_PORTS.has(port);
}
