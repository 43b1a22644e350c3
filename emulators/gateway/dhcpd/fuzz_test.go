package dhcpd_test

import (
	"net"
	"testing"

	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
)

func FuzzUnmarshal(f *testing.F) {
	hw, _ := net.ParseMAC("02:00:00:00:00:01")
	m := dhcpd.Message{Op: 1, XID: 1, CHAddr: hw, Options: map[uint8][]byte{dhcpd.OptMsgType: {1}, dhcpd.OptVendor: make([]byte, 300)}}
	b, _ := m.Marshal()
	f.Add(b)
	f.Add(b[:240])
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := dhcpd.Unmarshal(p)
		if err != nil {
			return
		}
		if _, err := m.Marshal(); err != nil && len(p) <= 576 {
			t.Fatalf("a decoded message does not re-encode: %v", err)
		}
	})
}
