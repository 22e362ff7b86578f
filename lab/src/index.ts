/**
 * The lab library: network-namespace topologies with wireguard-go, known traffic, packet
 * ground truth, agents as processes. Entry point for end-to-end tests outside lab/.
 */
export { Lab, Namespace, NAME_PREFIX } from './netns';
export { addWireGuard, addPeer, fullMesh, transfer, type WireGuardInterface } from './wireguard';
export { twoNodeTunnel, TWO_NODE_ADDRESSES, type TwoNodeTunnel, type TunnelEnd } from './topology';
export { buildMeshLab, MESH_PLAN, type MeshLab, type MeshMember } from './mesh';
export { startServices, trafficRound, dnsRecords, SERVICE_PORTS, type StepOutcome } from './mesh-traffic';
export { startMeshAgents, queryFlows, meshInventory, LAB_TIMEOUTS, AGENT_PORT, type MeshAgents, type MeshAgent } from './mesh-agents';
export { startAgent, waitForLog, waitForHealth, readJsonLines, agentBuilt, AGENT_CLI, type AgentProcess } from './agent';
export { startCapture, readIpPackets, conversationTotals, type Capture, type IpPacket } from './capture';
export { tsharkConversations, type TsharkConversation } from './tshark';
export { connections, onlyConnection, type Connection, type FlowRecord } from './records';
export { tcpTransfer, udpExchange, tcpConnect, ping, startServer, runClient } from './traffic';
export { isRoot } from './run';
