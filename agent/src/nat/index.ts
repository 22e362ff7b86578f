/**
 * NAT linking on a gateway: which flows are the two sides of one translated connection,
 * from the kernel's connection tracking (conntrack events and dumps). The flow table asks
 * the NatTable at emit time for a flow's tuple on the other side of the translation.
 */
export { NatTable, type ConntrackConnection, type ConntrackTuple, type NatTableOptions, type NatTableStats } from './table';
export { ConntrackFeed, parseConntrackLine, type ConntrackStats, type ConntrackFeedOptions } from './conntrack';
export { natLinkingAvailable, type NatLinkingMode } from './availability';
