package wsman_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// BenchmarkGet parses a MeshCentral Get of AMT_GeneralSettings and writes
// the AMT-style response: the per-request WS-MAN work of the emulator.
func BenchmarkGet(b *testing.B) {
	req := wsman.Builder{}.Get("0", gsURI)
	gs := wsman.Instance{Class: "AMT_GeneralSettings", ResourceURI: gsURI, Props: []wsman.Prop{
		wsman.S("AMTNetworkEnabled", "1"), wsman.S("DDNSPeriodicUpdateInterval", "1440"), wsman.S("DDNSTTL", "900"),
		wsman.S("DDNSUpdateByDHCPServerEnabled", "true"), wsman.S("DDNSUpdateEnabled", "false"),
		wsman.S("DigestRealm", "Digest:0123456789ABCDEF0123456789ABCDEF"), wsman.S("DomainName", "example.com"),
		wsman.S("ElementName", "Intel(r) AMT: General Settings"), wsman.S("HostName", "vmc1"),
		wsman.S("HostOSFQDN", "vmc1.example.com"), wsman.S("IdleWakeTimeout", "65535"),
		wsman.S("InstanceID", "Intel(r) AMT: General Settings"), wsman.S("NetworkInterfaceEnabled", "true"),
		wsman.S("PingResponseEnabled", "true"), wsman.S("PowerSource", "0"), wsman.S("PreferredAddressFamily", "0"),
		wsman.S("PresenceNotificationInterval", "0"), wsman.S("PrivacyLevel", "0"), wsman.S("RmcpPingResponseEnabled", "true"),
		wsman.S("SharedFQDN", "true"), wsman.S("WsmanOnlyMode", "false"),
	}}
	var ids wsman.MessageIDs
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		r, err := wsman.ParseRequest(req, wsman.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		out = wsman.AppendGetResponse(out[:0], wsman.ReplyTo(r, ids.Next()), &gs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
	b.ReportMetric(float64(len(out)), "resp-bytes")
}

// BenchmarkParsePull is the client side: parsing AMT's Pull response.
func BenchmarkParsePull(b *testing.B) {
	msg := []byte(amtPull)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := wsman.ParseResponse(msg, wsman.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
