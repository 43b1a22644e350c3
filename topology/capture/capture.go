// Package capture writes pcapng files of emulated links: one interface per
// link side (Ethernet link type), timestamps from the injected clock.
//
// A Writer is fed frames directly (WritePacket) or attached to a
// linkemu.Direction or Link, whose tap reports each frame as it enters on
// one side and as it leaves on the other. It is safe for concurrent use.
package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("capture: writer closed")

// Writer is a pcapng writer shared by any number of goroutines.
type Writer struct {
	clk clock.Clock

	mu     sync.Mutex
	ng     *pcapgo.NgWriter
	buf    *bufio.Writer
	closer io.Closer
	nIntf  int
	err    error // first error met by a tap, which cannot return it
	closed bool
}

// NewWriter starts a pcapng section on w with the named interfaces (at least
// one), numbered from 0 in order.
func NewWriter(w io.Writer, clk clock.Clock, ifaces ...string) (*Writer, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("capture: at least one interface name is required")
	}
	// A large buffer in front of the NgWriter's own keeps the many small
	// block writes off the file descriptor.
	buf := bufio.NewWriterSize(w, 1<<20)
	ng, err := pcapgo.NewNgWriterInterface(buf, ngInterface(ifaces[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "oobtb linkemu"},
	})
	if err != nil {
		return nil, fmt.Errorf("capture: writing section header: %w", err)
	}
	cw := &Writer{clk: clk, ng: ng, buf: buf, nIntf: 1}
	for _, name := range ifaces[1:] {
		if _, err := cw.AddInterface(name); err != nil {
			return nil, err
		}
	}
	return cw, nil
}

// Create writes a new pcapng file at path; Close closes the file.
func Create(path string, clk clock.Clock, ifaces ...string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	w, err := NewWriter(f, clk, ifaces...)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.closer = f
	return w, nil
}

func ngInterface(name string) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: name, OS: runtime.GOOS, LinkType: layers.LinkTypeEthernet, TimestampResolution: 9}
}

// AddInterface adds another interface and returns its index.
func (w *Writer) AddInterface(name string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	id, err := w.ng.AddInterface(ngInterface(name))
	if err != nil {
		return 0, fmt.Errorf("capture: adding interface %q: %w", name, err)
	}
	w.nIntf = id + 1
	return id, nil
}

// WritePacket records frame as seen on interface iface at ts; a zero ts
// means the clock's now.
func (w *Writer) WritePacket(iface int, ts time.Time, frame []byte) error {
	return w.write(iface, ts, frame, nil)
}

func (w *Writer) write(iface int, ts time.Time, frame []byte, comments []string) error {
	if ts.IsZero() {
		ts = w.clk.Now()
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame), InterfaceIndex: iface}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if iface < 0 || iface >= w.nIntf {
		return fmt.Errorf("capture: interface %d does not exist (have %d)", iface, w.nIntf)
	}
	var err error
	if comments != nil {
		err = w.ng.WritePacketWithOptions(ci, frame, pcapgo.NgPacketOptions{Comments: comments})
	} else {
		err = w.ng.WritePacket(ci, frame)
	}
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// Tap returns a linkemu tap that records frames entering a Direction on
// interface in and frames leaving it on interface out. Duplicated and
// corrupted copies carry a packet comment; drops are not recorded on the
// out side (the frame's entry is already on the in side). The first write
// error is kept for Err.
func (w *Writer) Tap(in, out int) func(pkt []byte, ev linkemu.Event) {
	return func(pkt []byte, ev linkemu.Event) {
		var err error
		switch ev.Kind {
		case linkemu.EventIn:
			err = w.write(in, ev.Time, pkt, nil)
		case linkemu.EventDeliver:
			var comments []string
			if ev.Duplicate {
				comments = append(comments, "linkemu: duplicate")
			}
			if ev.Corrupted {
				comments = append(comments, "linkemu: corrupted")
			}
			err = w.write(out, ev.Time, pkt, comments)
		}
		if err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	}
}

// AttachDirection installs Tap(in, out) on d.
func (w *Writer) AttachDirection(d *linkemu.Direction, in, out int) { d.SetTap(w.Tap(in, out)) }

// AttachLink records both directions of l: ifA is side A (frames A sends
// and frames delivered to A), ifB side B.
func (w *Writer) AttachLink(l *linkemu.Link, ifA, ifB int) {
	w.AttachDirection(l.AB, ifA, ifB)
	w.AttachDirection(l.BA, ifB, ifA)
}

// Err returns the first error a tap met.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Flush pushes buffered blocks to the underlying writer.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if err := w.ng.Flush(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// Close flushes and, for Create, closes the file. Detach taps first (SetTap
// nil or close the link); later tap events are counted as ErrClosed in Err.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.flushLocked()
	if w.closer != nil {
		if cerr := w.closer.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("capture: %w", cerr)
		}
	}
	return err
}
