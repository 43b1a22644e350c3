package runner

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// routedNet is a party's network stack that reaches other nodes the way the
// backend routes them: on inproc a dial to another node's address goes
// through the stream proxy of the topology path (so the path's impairments,
// cuts and a man in the middle apply); on netns Route is the address itself.
// Parties that learn addresses at run time (a gateway's WAN endpoint from a
// pairing answer, its LAN MPS from DNS-SD) dial through it.
type routedNet struct {
	c    *caseRun
	from string
	nw   netx.Network
}

func (c *caseRun) routed(node string) *routedNet {
	return &routedNet{c: c, from: node, nw: c.net.Network(node)}
}

func (r *routedNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	target := addr
	if to := r.c.nodeOf(addr); to != "" && to != r.from {
		var err error
		if target, err = r.c.net.Route(r.from, to, addr); err != nil {
			return nil, err
		}
	}
	nc, err := r.nw.Dial(ctx, network, target)
	if err != nil {
		return nil, err
	}
	if off, ok := r.c.inprocMITM(addr); ok {
		return &rewriteConn{Conn: nc, at: off}, nil
	}
	return nc, nil
}

func (r *routedNet) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	return r.nw.Listen(ctx, network, addr)
}

func (r *routedNet) ListenPacket(ctx context.Context, network, addr string) (net.PacketConn, error) {
	return r.nw.ListenPacket(ctx, network, addr)
}

// nodeOf is the node owning addr's IP on the inproc backend ("" when none
// or on netns, where the kernel routes).
func (c *caseRun) nodeOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byIP == nil {
		c.byIP = map[string]string{}
		if c.o.Backend.Name() == BackendInproc {
			for _, n := range c.s.Topo.Resolved().Nodes {
				c.byIP[c.net.Host(n.Name)] = n.Name
			}
		}
	}
	return c.byIP[host]
}

// mitmOffset is the console→gateway stream offset the man in the middle
// rewrites: inside Noise KK message 1 (after the 22-byte cleartext preamble
// and the record's 2-byte length), in the initiator's ephemeral key, so the
// gateway's authentication of message 1 must fail.
const mitmOffset = 22 + 2 + 8

// inprocMITM says whether dials to addr pass the inproc man in the middle.
func (c *caseRun) inprocMITM(addr string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.mitm[addr]
	return off, ok
}

// rewriteConn is the inproc man in the middle: it flips every bit of the
// byte at stream offset at of what the console sends, as a node on the WAN
// path that rewrites a TCP segment's payload would.
type rewriteConn struct {
	net.Conn
	mu  sync.Mutex
	off int64
	at  int64
	hit bool
}

func (w *rewriteConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	if !w.hit && w.off <= w.at && w.at < w.off+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[w.at-w.off] ^= 0xff
		p, w.hit = q, true
	}
	w.off += int64(len(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// startMITM puts a byte rewriter on link for TCP streams to target: on
// netns a tap on the link's emulator rewrites the frame's TCP payload (and
// its checksum) before it is queued; on inproc the console's dials to
// target go through rewriteConn. It returns what undoes it.
func (c *caseRun) startMITM(link string, target netip.AddrPort) (func(), error) {
	if nn, ok := c.net.(*netnsNet); ok {
		l, err := nn.link(link)
		if err != nil {
			return nil, err
		}
		rw := &tcpRewriter{port: target.Port(), at: mitmOffset, isn: map[uint16]uint32{}}
		stop := l.Tap(func(_ bool, pkt []byte, ev linkemu.Event) {
			if ev.Kind == linkemu.EventIn {
				rw.frame(pkt)
			}
		})
		return stop, nil
	}
	found := false
	for _, l := range c.s.Topo.Resolved().Links {
		found = found || l.Name == link
	}
	if !found {
		return nil, fmt.Errorf("no link %q in the topology", link)
	}
	c.mu.Lock()
	if c.mitm == nil {
		c.mitm = map[string]int64{}
	}
	c.mitm[target.String()] = mitmOffset
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.mitm, target.String())
		c.mu.Unlock()
	}, nil
}

// tcpRewriter flips the byte at stream offset at of every IPv4 TCP stream
// to port, in Ethernet frames, fixing the TCP checksum so the receiver's
// kernel accepts the altered segment (a man in the middle, not noise).
type tcpRewriter struct {
	mu   sync.Mutex
	port uint16
	at   uint32
	isn  map[uint16]uint32 // source port → initial sequence number
}

func (t *tcpRewriter) frame(f []byte) {
	if len(f) < 14+20+20 || binary.BigEndian.Uint16(f[12:14]) != 0x0800 {
		return
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 6 || len(ip) < ihl+20 {
		return
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total > len(ip) || total < ihl+20 {
		return
	}
	tcp := ip[ihl:total]
	if binary.BigEndian.Uint16(tcp[2:4]) != t.port {
		return
	}
	src := binary.BigEndian.Uint16(tcp[0:2])
	seq := binary.BigEndian.Uint32(tcp[4:8])
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tcp[13]&0x02 != 0 { // SYN
		t.isn[src] = seq
		return
	}
	isn, ok := t.isn[src]
	payload := tcp[doff:]
	if !ok || len(payload) == 0 {
		return
	}
	off := seq - isn - 1
	if t.at < off || t.at-off >= uint32(len(payload)) {
		return
	}
	payload[t.at-off] ^= 0xff
	// Recompute the checksum over the pseudo-header and the segment.
	tcp[16], tcp[17] = 0, 0
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i : i+2]))
	}
	sum += 6 + uint32(len(tcp))
	for i := 0; i+1 < len(tcp); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(tcp[i : i+2]))
	}
	if len(tcp)%2 == 1 {
		sum += uint32(tcp[len(tcp)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(tcp[16:18], ^uint16(sum))
}
