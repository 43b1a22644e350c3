// Package console is the operator side of oobtb: it asks the management
// server for a device's session and runs the KVM or SOL client on the
// server's web relay. The pieces are sub-packages usable alone: apiclient
// (REST API and relay), redirclient (redirection handshake), kvmclient
// (KVM viewer with figures), solclient (serial over LAN) and vncbridge
// (a plain RFB endpoint for standard VNC viewers). cmd/oobtb-console is the
// CLI; docs/console.md describes the commands and the figures.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/console/apiclient"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/solclient"
	"github.com/oobtb/oobtb/emulators/console/vncbridge"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// DialTimeout bounds asking for a session and dialling the relay.
const DialTimeout = 30 * time.Second

// Console is a console bound to one server.
type Console struct {
	API    *apiclient.Client
	Logger *slog.Logger
}

// New returns a console for the server at url with a bearer token.
func New(url, token string) (*Console, error) {
	if url == "" {
		return nil, errors.New("no server: give --server URL or set OOBTB_SERVER")
	}
	if token == "" {
		return nil, errors.New("no token: give --token T or set OOBTB_TOKEN (the admin token is in the server's data directory)")
	}
	api, err := apiclient.New(url, token)
	if err != nil {
		return nil, err
	}
	return &Console{API: api, Logger: slog.New(slog.DiscardHandler)}, nil
}

// ResolveDevice accepts a device UUID in any case, or a unique prefix of one.
func (c *Console) ResolveDevice(ctx context.Context, arg string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(arg))
	if a == "" {
		return "", errors.New("no device given")
	}
	if len(a) == 36 {
		return a, nil
	}
	devs, err := c.API.ListDevices(ctx)
	if err != nil {
		return "", err
	}
	var match []string
	for _, d := range devs {
		if strings.HasPrefix(d.UUID, a) {
			match = append(match, d.UUID)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no device matches %q", arg)
	case 1:
		return match[0], nil
	default:
		return "", fmt.Errorf("%q matches %d devices (%s, …); give more of the UUID", arg, len(match), match[0])
	}
}

// dial asks for a session and opens its relay.
func (c *Console) dial(ctx context.Context, device, mode string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	s, err := c.API.CreateSession(dctx, device, mode)
	if err != nil {
		return nil, err
	}
	return c.API.DialRelay(dctx, s)
}

// OpenKVM opens a KVM session to device through the server's relay, which
// injects the device's credentials. Run the client next.
//
// The server allows one KVM relay per device, so a device that still says
// busy after the relay accepted is most likely still tearing down the
// previous session (it notices the closed channel a moment later); such a
// refusal is retried for up to BusyRetry before it is returned.
func (c *Console) OpenKVM(ctx context.Context, device string, cfg kvmclient.Config) (*kvmclient.Client, error) {
	deadline := time.Now().Add(BusyRetry)
	for {
		conn, err := c.dial(ctx, device, "kvm")
		if err != nil {
			return nil, err
		}
		kc, err := kvmclient.Open(conn, cfg)
		if err == nil {
			return kc, nil
		}
		conn.Close()
		if !errors.Is(err, redirclient.ErrBusy) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// BusyRetry bounds OpenKVM's retries of a device-level busy refusal.
const BusyRetry = 3 * time.Second

// OpenSOL opens a SOL session to device through the server's relay.
func (c *Console) OpenSOL(ctx context.Context, device string, cfg solclient.Config) (*solclient.Client, error) {
	conn, err := c.dial(ctx, device, "sol")
	if err != nil {
		return nil, err
	}
	sc, err := solclient.Open(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return sc, nil
}

// FormatForBPP maps the --bpp flag to a pixel format (16 is AMT's default
// RGB565, sent as no SetPixelFormat at all).
func FormatForBPP(bpp int) (rfb.PixelFormat, error) {
	switch bpp {
	case 0, 16:
		return rfb.PixelFormat{}, nil
	case 8:
		return rfb.PF332, nil
	case 32:
		return rfb.PF888, nil
	}
	return rfb.PixelFormat{}, fmt.Errorf("--bpp %d: expected 16 (RGB565, AMT's default), 8 (RGB332) or 32", bpp)
}

// KVMOptions are what `oobtb-console kvm` does in a session.
type KVMOptions struct {
	Config kvmclient.Config
	// Type is typed once the first frame arrived; the session then waits
	// until the frame stamp shows the last key (bounded by TypeTimeout).
	Type        string
	TypeTimeout time.Duration // 0 → 30 s
	// Duration keeps the session open this long after typing; 0 with
	// Listen set → until ctx ends.
	Duration time.Duration
	// Screenshot, if set, is the PNG file written at the end.
	Screenshot string
	// Listen, if set, serves the screen to VNC viewers (vncbridge) there.
	Listen      string
	VNCPassword string
	// Notify receives progress lines (listen address, typing done).
	Notify io.Writer
}

// RunKVM runs a whole KVM session on an opened client and returns its
// figures. It closes kc.
func RunKVM(ctx context.Context, kc *kvmclient.Client, o KVMOptions) (kvmclient.Stats, error) {
	defer kc.Close()
	if o.Notify == nil {
		o.Notify = io.Discard
	}
	if o.TypeTimeout <= 0 {
		o.TypeTimeout = 30 * time.Second
	}
	rctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- kc.Run(rctx) }()
	stopRun := func() error {
		cancel()
		return <-runDone
	}
	fail := func(err error) (kvmclient.Stats, error) {
		rerr := stopRun()
		if rerr != nil {
			err = fmt.Errorf("%w (session: %v)", err, rerr)
		}
		return kc.Stats(), err
	}

	fctx, fcancel := context.WithTimeout(ctx, o.TypeTimeout)
	err := waitOrEnd(fctx, runDone, kc.WaitFirstFrame)
	fcancel()
	if err != nil {
		return fail(fmt.Errorf("kvm: no first frame: %w", err))
	}

	var bridgeDone chan error
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	if o.Listen != "" {
		br, err := vncbridge.New(vncbridge.Config{Source: kc, Password: o.VNCPassword})
		if err != nil {
			return fail(err)
		}
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return fail(fmt.Errorf("--listen %s: %w", o.Listen, err))
		}
		if _, err := br.Security(ln.Addr()); err != nil {
			ln.Close()
			return fail(err)
		}
		fmt.Fprintf(o.Notify, "VNC viewers can connect to %s\n", ln.Addr())
		bridgeDone = make(chan error, 1)
		go func() { bridgeDone <- br.Serve(bctx, ln) }()
	}
	stopBridge := func() error {
		if bridgeDone == nil {
			return nil
		}
		bcancel()
		return <-bridgeDone
	}

	if o.Type != "" {
		tctx, tcancel := context.WithTimeout(ctx, o.TypeTimeout)
		err := kc.Type(tctx, o.Type)
		if err == nil {
			err = waitOrEnd(tctx, runDone, kc.WaitInputs)
		}
		tcancel()
		if err != nil {
			_ = stopBridge()
			return fail(fmt.Errorf("kvm: typing: %w", err))
		}
		fmt.Fprintf(o.Notify, "typed %d characters; the device shows them\n", len([]rune(o.Type)))
	}

	var wait <-chan time.Time
	if o.Duration > 0 {
		t := time.NewTimer(o.Duration)
		defer t.Stop()
		wait = t.C
	} else if o.Listen == "" {
		ch := make(chan time.Time)
		close(ch)
		wait = ch
	}
	var runErr error
	select {
	case <-wait:
	case <-ctx.Done():
	case runErr = <-runDone:
		runDone <- runErr // stopRun reads it again
	}
	berr := stopBridge()
	st := kc.Stats()
	if o.Screenshot != "" {
		if err := writePNG(kc, o.Screenshot); err != nil {
			_ = stopRun()
			return st, err
		}
	}
	if err := stopRun(); err != nil {
		return kc.Stats(), fmt.Errorf("kvm: session ended: %w", err)
	}
	if berr != nil {
		return st, berr
	}
	return kc.Stats(), nil
}

// waitOrEnd runs wait but gives up when the session's Run ends first.
func waitOrEnd(ctx context.Context, runDone chan error, wait func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- wait(ctx) }()
	select {
	case err := <-res:
		return err
	case rerr := <-runDone:
		runDone <- rerr
		cancel()
		<-res
		if rerr == nil {
			rerr = errors.New("session ended")
		}
		return rerr
	}
}

func writePNG(kc *kvmclient.Client, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := kc.WritePNG(f); err != nil {
		f.Close()
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	return nil
}
