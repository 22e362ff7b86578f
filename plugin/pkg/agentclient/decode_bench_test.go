package agentclient

// Benchmarks of reply decoding (go test -run '^$' -bench Decode ./pkg/agentclient): the
// federation bench found it was most of the plugin's per-agent overhead. Not run by go test.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// flowsReply is an agent's answer to a flows query: a full page of realistic records.
func flowsReply(b *testing.B, n int) []byte {
	records := make([]models.FlowRecord, n)
	for i := range records {
		state := "SF"
		records[i] = models.FlowRecord{
			FlowID: fmt.Sprintf("a1b2c3d4-%d", i), Seq: 0, RecordKind: "final", EndReason: "tcp_close", Node: "gw-frankfurt",
			Interface: "wg0", FlowStartUs: 1767225600000000 + int64(i), StartUs: 1767225600000000 + int64(i), EndUs: 1767225660000000,
			Direction: "outbound", IPVersion: 4, Protocol: "tcp", ProtocolNumber: 6, SrcIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250),
			SrcPort: 40000 + int64(i), DstIP: "93.184.216.34", DstPort: 443, SrcName: "laptop-7", SrcType: "user", DstName: "",
			DstType: "external", DstDomain: "example.com", PacketsTx: 120, PacketsRx: 340, BytesTx: 12000, BytesRx: 480000,
			TCPFlagsSrc: 27, TCPFlagsDst: 27, ConnState: &state, CommunityID: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
		}
	}
	cursor := "eyJ0IjoxNzY3MjI1NjAwMDAwMDAwLCJyIjoxMjM0NX0"
	body, err := json.Marshal(models.FlowsResult{Kind: models.KindFlows, Records: records, NextCursor: &cursor})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDecodeFlowsPage(b *testing.B) {
	body := flowsReply(b, 100)
	c := New(models.AgentConfig{Name: "node-a", URL: "http://127.0.0.1:1"}, "", time.Second, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	q := models.Query{Kind: models.KindFlows, Limit: models.Int64(100)}
	for i := 0; i < b.N; i++ {
		var out models.FlowsResult
		r := &meteredReader{body: bytes.NewReader(body), budget: NewShares(DefaultQueryMemory, 1)[0]}
		if err := c.decodeReply(r, q, &out); err != nil {
			b.Fatal(err)
		}
	}
}
