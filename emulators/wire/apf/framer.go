package apf

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// FramerOptions configure a Framer. The zero value means the defaults.
type FramerOptions struct {
	Options
	// MaxBuffered bounds the bytes held between Feed and Next. 0 or anything
	// below Options.MaxLen() means Options.MaxLen() + 64 KiB, so one maximal
	// message plus a read's worth of the next always fits.
	MaxBuffered int
	// MaxPendingReplies bounds the ExpectReply queue; 0 → 256.
	MaxPendingReplies int
}

// Framer cuts APF messages out of a byte stream. The driver feeds whatever a
// Read returned and then calls Next until it reports "need more":
//
//	if err := f.Feed(p); err != nil { … }
//	for {
//		msg, err := f.Next()
//		if err != nil { /* protocol error: DISCONNECT and close */ }
//		if msg == nil { break } // need more bytes
//		…
//	}
//
// A returned message, and every byte slice in it, is valid only until the
// next Feed: CHANNEL_DATA, WINDOW_ADJUST and KEEPALIVE_REQUEST/REPLY are
// decoded into structs the Framer reuses, and Data aliases its buffer. Copy
// what must live longer. A protocol error is sticky: the stream has lost
// framing and every later Next returns the same error.
//
// REQUEST_SUCCESS has a 5-byte (port) and a 1-byte form that the type byte
// cannot tell apart. Global replies arrive in request order, so the session
// calls ExpectReply once per sent request that wants a reply, and each
// REQUEST_SUCCESS or REQUEST_FAILURE consumes the oldest expectation. With
// none queued, Options.Reply applies, and ReplyGuess falls back to the
// heuristic documented on Decode.
//
// A Framer is not safe for concurrent use.
type Framer struct {
	opts     Options
	max      int
	maxQueue int

	buf      []byte
	r        int   // start of unread bytes in buf
	need     int   // unread bytes needed before decoding is worth retrying
	consumed int64 // stream offset of buf[r]

	expect      []ReplyKind
	swallowZero bool
	err         error
	s           scratch
	// inline takes small feeds while buf is empty, so the keep-alives of
	// an idle stream are framed without allocating.
	inline [inlineFeed]byte
}

// inlineFeed is the largest feed an empty Framer takes without allocating:
// keep-alives (5 bytes), window adjusts (9) and most global requests fit.
const inlineFeed = 64

// NewFramer returns a Framer with the given options.
func NewFramer(o FramerOptions) *Framer {
	f := &Framer{opts: o.Options, max: o.MaxBuffered, maxQueue: o.MaxPendingReplies}
	if ml := o.Options.MaxLen(); f.max < ml {
		f.max = ml + 64<<10
	}
	if f.maxQueue <= 0 {
		f.maxQueue = 256
	}
	return f
}

// Feed appends stream bytes. It fails, without keeping any of p, when the
// unread bytes would exceed MaxBuffered: the driver should drain with Next
// between reads (or read less).
func (f *Framer) Feed(p []byte) error {
	if f.err != nil {
		return f.err
	}
	unread := len(f.buf) - f.r
	if unread+len(p) > f.max {
		return wireerr.New(Proto, "stream", "buffer", unread,
			fmt.Sprintf("at most %d buffered bytes", f.max), fmt.Sprintf("%d", unread+len(p)))
	}
	if unread == 0 && len(p) <= len(f.inline) && cap(f.buf) < len(f.inline) {
		f.buf, f.r = f.inline[:0], 0
	}
	if f.r > 0 && (unread == 0 || cap(f.buf)-len(f.buf) < len(p)) {
		n := copy(f.buf, f.buf[f.r:])
		f.buf = f.buf[:n]
		f.r = 0
	}
	if cap(f.buf)-len(f.buf) < len(p) {
		c := 2 * (len(f.buf) + len(p))
		if c < 4096 {
			c = 4096
		}
		if c > f.max {
			c = f.max
		}
		nb := make([]byte, len(f.buf), c)
		copy(nb, f.buf)
		f.buf = nb
	}
	f.buf = append(f.buf, p...)
	return nil
}

// Release drops the buffer when every fed byte has been consumed, so an idle
// stream holds no memory between reads (a CIRA server keeps thousands of idle
// tunnels); the next Feed allocates again unless it is small enough for the
// Framer's own inline bytes. Like Feed, it ends the validity of the messages
// Next returned.
func (f *Framer) Release() {
	if f.r == len(f.buf) {
		f.buf, f.r = nil, 0
	}
}

// ExpectReply queues the REQUEST_SUCCESS layout that answers a global request
// the session just sent (GlobalRequest.ReplyKind says which).
func (f *Framer) ExpectReply(k ReplyKind) error {
	if len(f.expect) >= f.maxQueue {
		return fmt.Errorf("apf: more than %d global requests awaiting a reply", f.maxQueue)
	}
	f.expect = append(f.expect, k)
	return nil
}

// PendingReplies is the number of queued reply expectations.
func (f *Framer) PendingReplies() int { return len(f.expect) }

// Buffered is the number of fed bytes not yet returned as messages.
func (f *Framer) Buffered() int { return len(f.buf) - f.r }

// Consumed is the stream offset of the next message: the number of bytes
// returned as messages so far. Add it to a *wireerr.Error's Offset to find
// the bad byte in a capture.
func (f *Framer) Consumed() int64 { return f.consumed }

// Err is the sticky protocol error, if any.
func (f *Framer) Err() error { return f.err }

// Next returns the next complete message; (nil, nil) when more bytes are
// needed; or a protocol error.
func (f *Framer) Next() (Message, error) {
	if f.err != nil {
		return nil, f.err
	}
	for {
		avail := f.buf[f.r:]
		if f.swallowZero {
			if len(avail) == 0 {
				return nil, nil
			}
			f.swallowZero = false
			if avail[0] == 0 {
				// The second trailer byte of a DMT/MeshCentral
				// USERAUTH_FAILURE that arrived after the first 14.
				f.r++
				f.consumed++
				continue
			}
		}
		if len(avail) == 0 || len(avail) < f.need {
			return nil, nil
		}
		o := f.opts
		if len(f.expect) > 0 {
			o.Reply = f.expect[0]
		}
		m, n, err := decode(avail, &o, &f.s, true, &f.need)
		if err == errNeedMore {
			return nil, nil
		}
		if err != nil {
			f.err = err
			return nil, err
		}
		f.need = 0
		f.r += n
		f.consumed += int64(n)
		switch v := m.(type) {
		case *RequestSuccess, *RequestFailure:
			if len(f.expect) > 0 {
				// The queue is short (one entry per request in
				// flight); shifting keeps it allocation-free.
				copy(f.expect, f.expect[1:])
				f.expect = f.expect[:len(f.expect)-1]
			}
		case *UserauthFailure:
			f.swallowZero = !v.ExtraZero
		}
		return m, nil
	}
}
