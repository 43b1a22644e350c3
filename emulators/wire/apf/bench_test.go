package apf_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// The console-compatible chunk: one 4096-byte message.
const benchChunk = apf.ConsoleMaxData

func BenchmarkChannelDataEncode(b *testing.B) {
	m := &apf.ChannelData{Recipient: 1, Data: make([]byte, benchChunk)}
	buf := make([]byte, 0, m.Len())
	b.SetBytes(int64(m.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf = m.Append(buf[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkChannelDataDecode(b *testing.B) {
	enc := apf.Marshal(&apf.ChannelData{Recipient: 1, Data: make([]byte, benchChunk)})
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := apf.Decode(enc, apf.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkFramer feeds a stream of CHANNEL_DATA and WINDOW_ADJUST in 16 KiB
// reads, the size of a TLS record, as a driver would.
func BenchmarkFramer(b *testing.B) {
	var stream []byte
	msgs := 0
	for range 64 {
		stream = apf.AppendChannelDataHeader(stream, 1, benchChunk)
		stream = append(stream, make([]byte, benchChunk)...)
		stream = (&apf.ChannelWindowAdjust{Recipient: 1, BytesToAdd: benchChunk}).Append(stream)
		msgs += 2
	}
	f := apf.NewFramer(apf.FramerOptions{})
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(stream); off += 16 << 10 {
			if err := f.Feed(stream[off:min(off+16<<10, len(stream))]); err != nil {
				b.Fatal(err)
			}
			for {
				m, err := f.Next()
				if err != nil {
					b.Fatal(err)
				}
				if m == nil {
					break
				}
			}
		}
	}
	b.ReportMetric(float64(b.N*msgs)/b.Elapsed().Seconds(), "msgs/s")
}
