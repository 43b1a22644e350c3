package kvmclient

import (
	"context"
	"fmt"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// Keysyms for the control characters Type understands.
const (
	KeysymBackSpace = screen.KeysymBackSpace
	KeysymTab       = screen.KeysymTab
	KeysymReturn    = screen.KeysymReturn
)

// KeysymFor maps a character to the X keysym consoles send for it: Latin-1
// printable characters are their own keysym; newline and carriage return
// are Return, tab is Tab, backspace is BackSpace.
func KeysymFor(r rune) (uint32, error) {
	switch {
	case r == '\n' || r == '\r':
		return KeysymReturn, nil
	case r == '\t':
		return KeysymTab, nil
	case r == '\b':
		return KeysymBackSpace, nil
	case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xFF:
		return uint32(r), nil
	}
	return 0, fmt.Errorf("kvm: character %q (U+%04X) has no Latin-1 keysym; AMT accepts Latin-1 text only", r, r)
}

// input sends one input event and records its id and send time for the
// latency figure. It waits for the first frame, whose stamp tells where
// the device's input numbering stands.
func (c *Client) input(ctx context.Context, m rfb.ClientMsg) error {
	if err := c.WaitFirstFrame(ctx); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	id := c.nextID
	c.nextID++
	c.sentID = id
	c.st.inputsSent++
	if len(c.inputs) >= maxPendingInputs {
		c.inputs = c.inputs[:copy(c.inputs, c.inputs[1:])]
		c.st.inputsDropped++
	}
	c.inputs = append(c.inputs, pendingInput{id: id, sent: c.clk.Now()})
	c.mu.Unlock()
	c.wbuf = m.Append(c.wbuf[:0])
	return c.sendLocked(c.wbuf)
}

// Key sends one KeyEvent.
func (c *Client) Key(ctx context.Context, down bool, keysym uint32) error {
	return c.input(ctx, &rfb.KeyEvent{Down: down, Key: keysym})
}

// Pointer sends one PointerEvent (mask bits: rfb.ButtonLeft, …).
func (c *Client) Pointer(ctx context.Context, mask uint8, x, y int) error {
	c.mu.Lock()
	w, h := c.dec.Image().W, c.dec.Image().H
	c.mu.Unlock()
	if x < 0 || y < 0 || x >= w || y >= h {
		return fmt.Errorf("kvm: pointer position (%d,%d) outside the %d×%d screen", x, y, w, h)
	}
	return c.input(ctx, &rfb.PointerEvent{Mask: mask, X: uint16(x), Y: uint16(y)})
}

// Type types text as key presses and releases, two events per character.
// Every character is checked before the first is sent.
func (c *Client) Type(ctx context.Context, text string) error {
	syms := make([]uint32, 0, len(text))
	for _, r := range text {
		k, err := KeysymFor(r)
		if err != nil {
			return err
		}
		syms = append(syms, k)
	}
	for _, k := range syms {
		if err := c.Key(ctx, true, k); err != nil {
			return err
		}
		if err := c.Key(ctx, false, k); err != nil {
			return err
		}
	}
	return nil
}

// CtrlAltDel sends the six events consoles send for it.
func (c *Client) CtrlAltDel(ctx context.Context) error {
	for _, e := range []struct {
		down bool
		k    uint32
	}{{true, rfb.KeyControlL}, {true, rfb.KeyAltL}, {true, rfb.KeyDelete},
		{false, rfb.KeyDelete}, {false, rfb.KeyAltL}, {false, rfb.KeyControlL}} {
		if err := c.Key(ctx, e.down, e.k); err != nil {
			return err
		}
	}
	return nil
}
