package rfb_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/oobtb/oobtb/bench/content"
	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

type benchCodec struct {
	name string
	s    rfb.Settings
}

var benchCodecs = []benchCodec{
	{"raw", rfb.Settings{Encoding: rfb.EncodingRaw}},
	{"enc16-stored", rfb.Settings{Encoding: rfb.EncodingAMT16}},
	{"enc16-deflate", rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: true}},
}

var benchFormats = []struct {
	name string
	pf   rfb.PixelFormat
}{{"rgb565", rfb.PF565}, {"rgb332", rfb.PF332}, {"32bpp", rfb.PF888}}

var benchFrames = map[content.Kind]*framebuf.Image{}

func benchFrame(k content.Kind) *framebuf.Image {
	if img, ok := benchFrames[k]; ok {
		return img
	}
	img := content.Frame1080(k, 1)
	benchFrames[k] = img
	return img
}

// cpuTime is the process's user+system CPU time. The benchmarks report
// CPU ms per frame next to wall-clock ms because the build machine is
// shared: CPU time is what "on one core" means when other jobs steal it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(b *testing.B, img *framebuf.Image, pf rfb.PixelFormat, encoded int, cpu time.Duration) {
	perFrame := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perFrame*1e3, "ms/frame")
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e3, "cpu-ms/frame")
	b.ReportMetric(float64(img.W*img.H)/perFrame/1e6, "Mpixel/s")
	b.ReportMetric(float64(img.W*img.H*pf.BytesPerPixel())/float64(encoded), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEncode encodes full 1920×1080 frames: encoding × pixel format ×
// content. ratio is raw pixel bytes ÷ encoded message bytes.
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCodecs {
		for _, f := range benchFormats {
			for _, k := range content.Kinds {
				b.Run(fmt.Sprintf("%s/%s/%s", c.name, f.name, k), func(b *testing.B) {
					img := benchFrame(k)
					enc, err := rfb.NewEncoder(f.pf, c.s)
					if err != nil {
						b.Fatal(err)
					}
					buf, _ := enc.AppendFull(nil, img)
					b.ReportAllocs()
					b.ResetTimer()
					c0 := cpuTime()
					for i := 0; i < b.N; i++ {
						buf, _ = enc.AppendFull(buf[:0], img)
					}
					report(b, img, f.pf, len(buf), cpuTime()-c0)
				})
			}
		}
	}
}

// BenchmarkDecode decodes the same frames. With deflate every frame must
// continue one stream, so each iteration encodes its frame first with the
// timer (and the CPU clock) stopped.
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCodecs {
		for _, f := range benchFormats {
			for _, k := range content.Kinds {
				b.Run(fmt.Sprintf("%s/%s/%s", c.name, f.name, k), func(b *testing.B) {
					img := benchFrame(k)
					enc, _ := rfb.NewEncoder(f.pf, c.s)
					msg, _ := enc.AppendFull(nil, img)
					out, _ := framebuf.New(img.W, img.H)
					dec, _ := rfb.NewDecoder(f.pf, out)
					if c.s.Deflate {
						decodeFrame(b, dec, msg) // keep encoder and decoder streams in step
					}
					var skipCPU time.Duration
					b.ReportAllocs()
					b.ResetTimer()
					c0 := cpuTime()
					for i := 0; i < b.N; i++ {
						if c.s.Deflate {
							b.StopTimer()
							c1 := cpuTime()
							msg, _ = enc.AppendFull(msg[:0], img)
							skipCPU += cpuTime() - c1
							b.StartTimer()
						}
						decodeFrame(b, dec, msg)
					}
					report(b, img, f.pf, len(msg), cpuTime()-c0-skipCPU)
				})
			}
		}
	}
}

func decodeFrame(b *testing.B, dec *rfb.Decoder, msg []byte) {
	for len(msg) > 0 {
		_, used, err := dec.Next(msg)
		if err != nil {
			b.Fatal(err)
		}
		msg = msg[used:]
	}
}
