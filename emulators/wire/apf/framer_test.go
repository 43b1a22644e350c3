package apf_test

import (
	"bytes"
	"math/rand/v2"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// stream concatenates every golden vector and queues the reply expectations
// a session would have queued.
func stream(f *apf.Framer) ([]byte, []apf.Message) {
	var b []byte
	var msgs []apf.Message
	for _, v := range vectors {
		b = append(b, wire(v.hex)...)
		msgs = append(msgs, v.msg)
		if f != nil && v.msg.Type() == apf.TypeRequestSuccess {
			Expect(f.ExpectReply(v.reply)).To(Succeed())
		}
		if f != nil && v.msg.Type() == apf.TypeRequestFailure {
			Expect(f.ExpectReply(apf.ReplyNoPort)).To(Succeed())
		}
	}
	return b, msgs
}

// sameMessage compares what a split stream can reproduce: a 15-byte
// USERAUTH_FAILURE split after byte 14 is returned as the 14-byte form and its
// last zero swallowed, so ExtraZero is not compared.
func sameMessage(got, want apf.Message) {
	if w, ok := want.(*apf.UserauthFailure); ok {
		g, ok := got.(*apf.UserauthFailure)
		ExpectWithOffset(1, ok).To(BeTrue())
		ExpectWithOffset(1, g.Methods).To(Equal(w.Methods))
		ExpectWithOffset(1, g.PartialSuccess).To(Equal(w.PartialSuccess))
		return
	}
	ExpectWithOffset(1, got).To(Equal(want))
}

// feedSplits feeds b in pieces cut by cut() and returns every message.
func feedSplits(f *apf.Framer, b []byte, cut func(rest int) int, each func(apf.Message)) {
	for len(b) > 0 {
		n := cut(len(b))
		Expect(f.Feed(b[:n])).To(Succeed())
		b = b[n:]
		for {
			m, err := f.Next()
			Expect(err).NotTo(HaveOccurred())
			if m == nil {
				break
			}
			each(m)
		}
	}
}

var _ = Describe("Framer", func() {
	It("cuts the golden stream fed one byte at a time", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		b, want := stream(f)
		var i int
		feedSplits(f, b, func(int) int { return 1 }, func(m apf.Message) {
			sameMessage(m, want[i])
			i++
		})
		Expect(i).To(Equal(len(want)))
		Expect(f.Buffered()).To(BeZero())
		Expect(f.Consumed()).To(Equal(int64(len(b))))
		Expect(f.PendingReplies()).To(BeZero())
	})

	It("cuts the golden stream in random splits, for many seeds", func() {
		for seed := range uint64(200) {
			r := rand.New(rand.NewPCG(seed, 7))
			f := apf.NewFramer(apf.FramerOptions{})
			b, want := stream(f)
			var i int
			feedSplits(f, b, func(rest int) int { return 1 + r.IntN(min(rest, 200)) }, func(m apf.Message) {
				sameMessage(m, want[i])
				i++
			})
			Expect(i).To(Equal(len(want)), "seed %d", seed)
		}
	})

	It("cuts random messages of every type in random splits", func() {
		r := rand.New(rand.NewPCG(3, 4))
		for range 20 {
			f := apf.NewFramer(apf.FramerOptions{})
			msgs := randomMessages(r)
			var b []byte
			for _, m := range msgs {
				b = m.Append(b)
				if m.Type() == apf.TypeRequestSuccess {
					Expect(f.ExpectReply(replyFor(m))).To(Succeed())
				}
				if m.Type() == apf.TypeRequestFailure {
					Expect(f.ExpectReply(apf.ReplyNoPort)).To(Succeed())
				}
			}
			var i int
			feedSplits(f, b, func(rest int) int { return 1 + r.IntN(min(rest, 5000)) }, func(m apf.Message) {
				sameMessage(m, msgs[i])
				i++
			})
			Expect(i).To(Equal(len(msgs)))
		}
	})

	It("swallows the second trailer byte of a split 15-byte USERAUTH_FAILURE", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		b := wire(`33 00000008 "password" 00 00 34`)
		Expect(f.Feed(b[:14])).To(Succeed())
		m, err := f.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(m).To(Equal(&apf.UserauthFailure{Methods: "password"}))
		Expect(f.Feed(b[14:])).To(Succeed())
		m, err = f.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(m).To(Equal(&apf.UserauthSuccess{}))
	})

	It("uses queued expectations in order for REQUEST_SUCCESS and REQUEST_FAILURE", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		Expect(f.ExpectReply(apf.ReplyWithPort)).To(Succeed())
		Expect(f.ExpectReply(apf.ReplyNoPort)).To(Succeed())
		Expect(f.ExpectReply(apf.ReplyNoPort)).To(Succeed())
		Expect(f.ExpectReply(apf.ReplyWithPort)).To(Succeed())
		// A port whose high byte is non-zero would defeat the guess; the
		// queue carries the session's knowledge instead.
		b := wire(`51 01020304 51 52 51 00001770`)
		var got []apf.Message
		feedSplits(f, b, func(int) int { return 1 }, func(m apf.Message) { got = append(got, m) })
		Expect(got).To(Equal([]apf.Message{
			&apf.RequestSuccess{HasPort: true, Port: 0x01020304},
			&apf.RequestSuccess{},
			&apf.RequestFailure{},
			&apf.RequestSuccess{HasPort: true, Port: 6000},
		}))
		Expect(f.PendingReplies()).To(BeZero())
	})

	It("bounds the reply queue", func() {
		f := apf.NewFramer(apf.FramerOptions{MaxPendingReplies: 2})
		Expect(f.ExpectReply(apf.ReplyNoPort)).To(Succeed())
		Expect(f.ExpectReply(apf.ReplyNoPort)).To(Succeed())
		Expect(f.ExpectReply(apf.ReplyNoPort)).NotTo(Succeed())
	})

	It("makes protocol errors sticky and names the field", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		Expect(f.Feed(wire(`61 00000004 5e 00000001 7fffffff`))).To(Succeed())
		m, err := f.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(m).To(Equal(&apf.ChannelClose{Recipient: 4}))
		_, err = f.Next()
		we := asWireErr(err)
		Expect(we.Field).To(Equal("data length"))
		Expect(we.Offset).To(Equal(5))
		Expect(f.Consumed()).To(Equal(int64(5)))
		_, err2 := f.Next()
		Expect(err2).To(BeIdenticalTo(err))
		Expect(f.Feed([]byte{0x34})).To(BeIdenticalTo(err))
		Expect(f.Err()).To(BeIdenticalTo(err))
	})

	It("refuses to buffer beyond its bound", func() {
		f := apf.NewFramer(apf.FramerOptions{Options: apf.Options{MaxData: 4087}, MaxBuffered: 1})
		limit := apf.Options{MaxData: 4087}.MaxLen() + 64<<10
		Expect(f.Feed(make([]byte, 0))).To(Succeed())
		// A legal big message fits; one byte more than the bound does not.
		b := apf.Marshal(&apf.ChannelData{Recipient: 1, Data: make([]byte, 4087)})
		Expect(f.Feed(b)).To(Succeed())
		err := f.Feed(make([]byte, limit))
		Expect(asWireErr(err).Field).To(Equal("buffer"))
		m, err := f.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(m.(*apf.ChannelData).Data).To(HaveLen(4087))
	})

	It("waits without re-parsing for a large CHANNEL_DATA", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		payload := bytes.Repeat([]byte{0xab}, 100_000)
		b := apf.Marshal(&apf.ChannelData{Recipient: 9, Data: payload})
		for off := 0; off < len(b); off += 16 << 10 {
			Expect(f.Feed(b[off:min(off+16<<10, len(b))])).To(Succeed())
			m, err := f.Next()
			Expect(err).NotTo(HaveOccurred())
			if off+16<<10 < len(b) {
				Expect(m).To(BeNil())
			} else {
				Expect(m.(*apf.ChannelData).Data).To(Equal(payload))
			}
		}
	})

	It("decodes CHANNEL_DATA and WINDOW_ADJUST without allocating", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		b := apf.Marshal(&apf.ChannelData{Recipient: 1, Data: make([]byte, 4087)})
		b = append(b, wire(`5d 00000001 00004000 d0 00000001`)...)
		Expect(testing_AllocsPerRun(100, func() {
			if f.Feed(b) != nil {
				panic("feed")
			}
			for {
				m, err := f.Next()
				if err != nil {
					panic(err)
				}
				if m == nil {
					break
				}
			}
		})).To(BeZero())
	})

	It("reports short input as need-more, never as an error", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		Expect(f.Feed(wire(`c0 00000001`))).To(Succeed())
		m, err := f.Next()
		Expect(m).To(BeNil())
		Expect(err).NotTo(HaveOccurred())
	})
})

var _ = Describe("Framer.Release", func() {
	It("drops the buffer only when every fed byte was consumed, keeping a partial message", func() {
		f := apf.NewFramer(apf.FramerOptions{})
		b, msgs := stream(f)
		// Feed all but the last 3 bytes, drain, release: the partial tail stays.
		Expect(f.Feed(b[:len(b)-3])).To(Succeed())
		var got []apf.Message
		for {
			m, err := f.Next()
			Expect(err).NotTo(HaveOccurred())
			if m == nil {
				break
			}
			got = append(got, m)
		}
		f.Release()
		Expect(f.Buffered()).To(BeNumerically(">", 0))
		Expect(f.Feed(b[len(b)-3:])).To(Succeed())
		m, err := f.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(m).NotTo(BeNil())
		got = append(got, m)
		Expect(got).To(HaveLen(len(msgs)))
		f.Release()
		Expect(f.Buffered()).To(Equal(0))
		// A framer that released its buffer works on.
		ka := (&apf.KeepaliveRequest{Cookie: 7}).Append(nil)
		Expect(f.Feed(ka)).To(Succeed())
		m, err = f.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(m).To(Equal(&apf.KeepaliveRequest{Cookie: 7}))
		Expect(f.Consumed()).To(Equal(int64(len(b) + len(ka))))
	})
})
