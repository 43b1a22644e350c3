package runner

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	csession "github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/gateway"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/sim/clock"
)

// Ports of a gateway on the netns backend, where each node has its own
// stack: AMT's MPS port on the LAN, the console listener on the WAN, mDNS.
const (
	gwLANPort  = 4433
	gwWANPort  = 7443
	gwMDNSPort = 5353
)

// gatewayParty is an edge gateway (emulators/gateway): its LAN MPS and
// DNS-SD responder on the node's LAN side, its console listener on the WAN
// side, its control channel to the server. It enrols through the server's
// API (POST /api/v1/gateways) at its first start; the identity it gets is
// kept in its data directory, so a restart comes back as the same gateway.
// Its identity (id, identifiers, static key, LAN certificate) and ports are
// fixed when the case starts, so devices can be told about a gateway that
// is not running (the pairing module then finds it offline).
type gatewayParty struct {
	c      *caseRun
	p      *spec.Party
	node   string
	dir    string
	server *serverParty

	id                string
	udi, domain, url  string
	mac               net.HardwareAddr
	lanHost           string
	lanMPS, wan, mdns string // host:port
	key               [32]byte
	lanCA             *pki.CA
	cert              tls.Certificate
	enrol             bool // false: never enrolled (an unknown gateway)
	enrolled          bool
	mu                sync.Mutex
	gw                *gateway.Gateway
}

func (g *gatewayParty) name() string { return g.p.Name }

func (g *gatewayParty) running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gw != nil
}

func (g *gatewayParty) current() *gateway.Gateway {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gw
}

// ifaceSides picks the node's LAN and WAN addresses: the NAT's outside
// interface is the WAN, another one the LAN; a node with one address uses
// it for both.
func (c *caseRun) ifaceSides(node string) (lan, wan string) {
	lan, wan = c.net.Host(node), c.net.Host(node)
	if c.o.Backend.Name() != BackendNetns {
		return lan, wan
	}
	for _, n := range c.s.Topo.Resolved().Nodes {
		if n.Name != node || n.NAT == nil {
			continue
		}
		for _, i := range n.Ifaces {
			if i.Name == n.NAT.Outside {
				wan = i.Prefix.Addr().String()
			} else {
				lan = i.Prefix.Addr().String()
			}
		}
	}
	return lan, wan
}

// freePort reserves a port on host (inproc: every node shares loopback).
func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func freeUDPPort(host string) (string, error) {
	l, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.LocalAddr().String(), nil
}

// prepare fixes the gateway's identity, ports, LAN certificate and static
// key without starting it.
func (g *gatewayParty) prepare() error {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", g.c.seed, g.p.Name)
	sum := h.Sum32()
	g.id = "gw-" + g.p.Name
	g.udi = fmt.Sprintf("GW-%s-%06X", strings.ToUpper(g.p.Name), sum&0xffffff)
	g.mac = net.HardwareAddr{0x02, 0x00, 0x5e, byte(sum >> 16), byte(sum >> 8), byte(sum)}
	g.domain = g.p.Name + ".lan.oobtb.test"
	g.url = "https://" + g.p.Name + ".gw.oobtb.test:8443/"
	g.enrol = g.p.Enrol == nil || *g.p.Enrol
	var wanHost string
	g.lanHost, wanHost = g.c.ifaceSides(g.node)
	var err error
	if g.c.o.Backend.Name() == BackendNetns {
		g.lanMPS = net.JoinHostPort(g.lanHost, strconv.Itoa(gwLANPort))
		g.wan = net.JoinHostPort(wanHost, strconv.Itoa(gwWANPort))
		g.mdns = net.JoinHostPort(g.lanHost, strconv.Itoa(gwMDNSPort))
	} else {
		if g.lanMPS, err = freePort(g.lanHost); err != nil {
			return err
		}
		if g.wan, err = freePort(wanHost); err != nil {
			return err
		}
		if g.mdns, err = freeUDPPort(g.lanHost); err != nil {
			return err
		}
	}
	if g.lanCA, err = pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256, CommonName: "oobtb " + g.p.Name + " LAN CA"}); err != nil {
		return fmt.Errorf("LAN CA: %w", err)
	}
	crt, err := g.lanCA.IssueServer(pki.LeafOptions{CommonName: g.lanHost, IPs: []net.IP{net.ParseIP(g.lanHost)},
		DNSNames: []string{g.udi}, KeyType: pki.ECDSAP256})
	if err != nil {
		return fmt.Errorf("LAN certificate: %w", err)
	}
	g.cert = crt.TLS()
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return err
	}
	// The static key the gateway loads from its data directory; the
	// devices' static hints carry its public half.
	k, err := p2p.GenerateKey()
	if err != nil {
		return err
	}
	copy(g.key[:], k.Public)
	return os.WriteFile(filepath.Join(g.dir, gateway.StaticKeyFile), []byte(hex.EncodeToString(k.Private)+"\n"), 0o600)
}

// hint is what a device on the gateway's LAN learns from its DHCP option
// or DNS-SD answer, for devices that cannot ask (the gateway is not
// running when they start).
func (g *gatewayParty) hint() policy.GatewayHint {
	return policy.GatewayHint{ID: g.udi, Addr: netip.MustParseAddrPort(g.lanMPS), PublicKey: g.key, Source: policy.FromDHCP,
		Identifiers: []policy.Identifier{{Kind: policy.IDIPv4, Value: g.lanHost}, {Kind: policy.IDMAC, Value: g.mac.String()},
			{Kind: policy.IDDomain, Value: g.domain}, {Kind: policy.IDUDI, Value: g.udi}, {Kind: policy.IDURL, Value: g.url}}}
}

// browser is the DNS-SD query a device on the LAN sends (unicast to the
// responder: one answer, no multicast routing needed in either backend).
func (g *gatewayParty) browser(d *device) dnssd.Browser {
	return dnssd.Browser{Network: g.c.net.Network(d.node), Server: g.mdns, Listen: net.JoinHostPort(g.c.net.Host(d.node), "0"),
		Wait: 2 * time.Second, Max: 1}
}

// learn is the device's DNS-SD query for _oobgw._tcp (vmc.LearnDNSSD's
// steps). The hint's compact id is the announced UDI rather than the
// LAN endpoint: the vMC checks the gateway's LAN certificate against the id
// when it fails over to the gateway (policy.gatewayMPS uses it as the
// MPS's CN), and a certificate can name a UDI but not
// "ipv4-endpoint:a.b.c.d:port".
func (g *gatewayParty) learn(ctx context.Context, d *device) (policy.GatewayHint, error) {
	found, err := g.browser(d).Browse(ctx)
	if err != nil {
		return policy.GatewayHint{}, err
	}
	for _, f := range found {
		if f.Err != nil {
			continue
		}
		h, err := vmc.HintFromInfo(f.Gateway, policy.FromDNSSD)
		if err != nil {
			continue
		}
		for _, id := range h.Identifiers {
			if id.Kind == policy.IDUDI {
				h.ID = id.Value
			}
		}
		return h, nil
	}
	return policy.GatewayHint{}, errors.New("DNS-SD: no _oobgw._tcp gateway answered")
}

// ref names the gateway by one identifier type, as a console would.
func (g *gatewayParty) ref(kind string) *csession.GatewayRef {
	switch kind {
	case "mac":
		return &csession.GatewayRef{Type: "mac", Value: g.mac.String()}
	case "ip":
		return &csession.GatewayRef{Type: "ipv4", Value: g.lanHost}
	case "domain":
		return &csession.GatewayRef{Type: "domain", Value: g.domain}
	case "url":
		return &csession.GatewayRef{Type: "url", Value: g.url}
	case "endpoint":
		_, port, _ := net.SplitHostPort(g.lanMPS)
		return &csession.GatewayRef{Type: "port", Value: port}
	}
	return &csession.GatewayRef{Type: "udi", Value: g.udi}
}

// enrolToken creates the gateway at the server (POST /api/v1/gateways)
// from the gateway's node and returns its one-time enrolment token.
func (g *gatewayParty) enrolToken(ctx context.Context) (string, error) {
	body, _ := json.Marshal(server.GatewayCreate{ID: g.id})
	var out server.GatewayCreated
	if err := g.c.apiCall(ctx, g.node, g.server, "POST", "/api/v1/gateways", body, http.StatusCreated, &out); err != nil {
		return "", fmt.Errorf("enrolling gateway %s: %w", g.id, err)
	}
	if out.EnrolToken == "" {
		return "", fmt.Errorf("enrolling gateway %s: the server answered no enrolment token", g.id)
	}
	return out.EnrolToken, nil
}

func (g *gatewayParty) start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gw != nil {
		return fmt.Errorf("gateway %s is already running", g.p.Name)
	}
	if !g.enrol {
		return fmt.Errorf("gateway %s has enrol: false: it stands for a gateway the server never heard of and is not started", g.p.Name)
	}
	if !g.server.running() {
		return fmt.Errorf("gateway %s: its server %s is not running (start it first)", g.p.Name, g.server.p.Name)
	}
	tok := ""
	if !g.enrolled {
		var err error
		if tok, err = g.enrolToken(ctx); err != nil {
			return err
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(g.server.caPEM) {
		return fmt.Errorf("server %s: no CA certificate in its PEM", g.server.p.Name)
	}
	gw, err := gateway.New(gateway.Config{Network: g.c.routed(g.node), Clock: clock.Real{},
		Logger: g.c.logger.With("party", g.p.Name), DataDir: g.dir, Server: g.server.gwAddr, ServerCAs: pool,
		EnrolToken: tok, LANMPS: g.lanMPS, LANCert: &g.cert, WANListen: g.wan, MAC: g.mac, Domain: g.domain,
		UDI: g.udi, URL: g.url, MDNS: &dnssd.ResponderConfig{Listen: g.mdns}, Seed: g.c.seed})
	if err != nil {
		return err
	}
	if err := gw.Start(context.Background()); err != nil {
		gw.Close()
		return err
	}
	if err := gw.WaitControl(ctx); err != nil {
		gw.Close()
		return fmt.Errorf("gateway %s: control channel to %s not up: %w (%+v)", g.p.Name, g.server.p.Name, err, gw.Status().Control)
	}
	g.gw, g.enrolled = gw, true
	return nil
}

func (g *gatewayParty) stop(ctx context.Context) error {
	g.mu.Lock()
	gw := g.gw
	g.gw = nil
	g.mu.Unlock()
	if gw == nil {
		return nil
	}
	err := gw.Close()
	g.waitGone(ctx)
	return err
}

// waitGone waits (up to 10 s) until the gateway's server no longer counts
// its control channel as connected, so a step after a stop or kill sees
// the gateway offline, as a console would a moment later.
func (g *gatewayParty) waitGone(ctx context.Context) {
	if !g.server.running() {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var out struct {
			Gateways []server.GatewayView `json:"gateways"`
		}
		err := g.c.apiCall(wctx, g.server.node, g.server, "GET", "/api/v1/gateways", nil, http.StatusOK, &out)
		connected := err != nil
		for _, v := range out.Gateways {
			if v.ID == g.id && v.Connected {
				connected = true
			}
		}
		if !connected {
			return
		}
		select {
		case <-wctx.Done():
			g.c.logger.Warn("the server still counts the stopped gateway as connected", "gateway", g.id)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill is stop: Close drops every socket at once without a goodbye.
func (g *gatewayParty) kill(ctx context.Context) error { return g.stop(ctx) }

// apiCall sends one admin API request from node to the server and decodes
// the answer; a status other than want is an error with the server's code.
func (c *caseRun) apiCall(ctx context.Context, node string, sp *serverParty, method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+sp.apiAddr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sp.admin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.httpClient(node)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		var ae server.APIError
		if json.Unmarshal(b, &ae) == nil && ae.Code != "" {
			return fmt.Errorf("%s %s: HTTP %d %s: %s", method, path, resp.StatusCode, ae.Code, ae.Error)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decoding the answer to %s %s %q: %w", method, path, b, err)
		}
	}
	return nil
}

// httpClient reaches servers from node the way the backend routes.
func (c *caseRun) httpClient(node string) *http.Client {
	rn := c.routed(node)
	tr := &http.Transport{DialContext: rn.Dial, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}
