package mux_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
)

func FuzzDecode(f *testing.F) {
	f.Add(mux.Frame{Type: mux.FrameOpen, Stream: 1, Payload: []byte("kvm")}.Append(nil))
	f.Add(mux.Frame{Type: mux.FrameWindow, Stream: 1, Payload: []byte{0, 1, 0, 0}}.Append(nil))
	f.Add(mux.Frame{Type: mux.FramePing, Payload: make([]byte, 8)}.Append(nil))
	// 0-RTT open: DATA on the stream right behind its OPEN, and a refusal.
	f.Add(mux.Frame{Type: mux.FrameData, Stream: 1, Payload: []byte("\x10\x01\x00\x00KVMR")}.Append(nil))
	f.Add(mux.Frame{Type: mux.FrameOpenFail, Stream: 1, Payload: []byte("no such target")}.Append(nil))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		fr, err := mux.Decode(p, 65519)
		if err != nil {
			return
		}
		if got := fr.Append(nil); string(got) != string(p) {
			t.Fatalf("re-encoding differs: %x vs %x", got, p)
		}
	})
}
