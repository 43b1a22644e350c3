package apf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// ReplyKind says which REQUEST_SUCCESS layout the receiver expects.
type ReplyKind uint8

const (
	// ReplyGuess decodes REQUEST_SUCCESS heuristically (see Decode).
	ReplyGuess ReplyKind = iota
	// ReplyWithPort expects the 5-byte form (answer to tcpip-forward).
	ReplyWithPort
	// ReplyNoPort expects the 1-byte form (cancel-tcpip-forward, udp-send-to,
	// *@oobtb extensions).
	ReplyNoPort
)

func (k ReplyKind) String() string {
	switch k {
	case ReplyGuess:
		return "guess"
	case ReplyWithPort:
		return "with-port"
	case ReplyNoPort:
		return "no-port"
	}
	return "ReplyKind(" + strconv.Itoa(int(k)) + ")"
}

// Options bound and steer decoding. The zero value means the defaults.
type Options struct {
	MaxString  int // longest str field; 0 → DefaultMaxString (2048)
	MaxData    int // longest CHANNEL_DATA payload; 0 → DefaultMaxData (1 MiB)
	MaxPayload int // longest *@oobtb payload and udp-send-to data; 0 → DefaultMaxPayload
	// Reply is the REQUEST_SUCCESS layout the caller awaits. The session knows
	// it: tcpip-forward → ReplyWithPort; anything else → ReplyNoPort.
	Reply ReplyKind
	// TolerateUnknownGlobal decodes a GLOBAL_REQUEST with an unknown name as
	// UnknownGlobalRequest of 6+R bytes, as the stock Node MPSes do, instead of
	// failing. Off by default: the request-specific part cannot be framed.
	TolerateUnknownGlobal bool
}

func (o *Options) maxString() int  { return orDefault(o.MaxString, DefaultMaxString) }
func (o *Options) maxData() int    { return orDefault(o.MaxData, DefaultMaxData) }
func (o *Options) maxPayload() int { return orDefault(o.MaxPayload, DefaultMaxPayload) }

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// MaxLen is the longest message Decode accepts with these options, which is
// also the buffer a streaming reader needs for one message.
func (o Options) MaxLen() int {
	m := 9 + o.maxData()
	if s := 33 + 3*o.maxString(); s > m {
		m = s
	}
	if s := 10 + o.maxString() + o.maxPayload(); s > m {
		m = s
	}
	if s := 26 + len(RequestUDPSendTo) + 2*o.maxString() + o.maxPayload(); s > m {
		m = s
	}
	return m
}

// errNeedMore is the allocation-free short signal the Framer uses internally.
var errNeedMore = errors.New("apf: need more bytes")

// scratch holds reusable structs for the hot message types so the Framer can
// return them without allocating.
type scratch struct {
	data ChannelData
	wa   ChannelWindowAdjust
	ka   KeepaliveRequest
	kr   KeepaliveReply
}

type decoder struct {
	b   []byte
	off int
	msg string
	// Options are copied in, not pointed to, so the caller's Options do not
	// escape to the heap through error paths.
	maxString, maxData, maxPayload int
	reply                          ReplyKind
	tolerateUnknown                bool
	cheap                          bool // return errNeedMore instead of a detailed short error
	need                           int  // with cheap: bytes the message needs at least
}

func (d *decoder) short(field string, n int) error {
	d.need = d.off + n
	if d.cheap {
		return errNeedMore
	}
	return wireerr.Short(Proto, d.msg, field, d.off, d.off+n, len(d.b))
}

func (d *decoder) bad(field string, at int, expected, got string) error {
	return wireerr.New(Proto, d.msg, field, at, expected, got)
}

func (d *decoder) u8(field string) (uint8, error) {
	if len(d.b) < d.off+1 {
		return 0, d.short(field, 1)
	}
	v := d.b[d.off]
	d.off++
	return v, nil
}

func (d *decoder) boolean(field string) (bool, error) {
	v, err := d.u8(field)
	if err != nil {
		return false, err
	}
	if v > 1 {
		return false, d.bad(field, d.off-1, "0 or 1", fmt.Sprintf("0x%02x", v))
	}
	return v == 1, nil
}

func (d *decoder) u32(field string) (uint32, error) {
	if len(d.b) < d.off+4 {
		return 0, d.short(field, 4)
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

// bytes reads a str: u32 length then that many bytes, the length checked
// against max before anything waits for the body.
func (d *decoder) bytes(field string, max int) ([]byte, error) {
	at := d.off
	// The length field's name is built only on the error paths: this runs
	// for every CHANNEL_DATA and must not allocate.
	if len(d.b) < d.off+4 {
		return nil, d.short(field+" length", 4)
	}
	n := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	if uint64(n) > uint64(max) {
		return nil, d.bad(field+" length", at, fmt.Sprintf("at most %d", max), strconv.FormatUint(uint64(n), 10))
	}
	if len(d.b)-d.off < int(n) {
		return nil, d.short(field, int(n))
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v, nil
}

func (d *decoder) str(field string) (string, error) {
	v, err := d.bytes(field, d.maxString)
	return string(v), err
}

// Decode cuts exactly one message from the front of b and returns it with its
// length n. If b is a valid but incomplete prefix the error matches
// wireerr.ErrShort; any other error is a *wireerr.Error naming message,
// field and offset. Byte slices in the message (ChannelData.Data,
// ExtensionRequest.Payload, UDPSendTo.Data) alias b.
//
// Two messages have layouts the type byte does not settle:
//
//   - REQUEST_SUCCESS: with opts.Reply set, that layout is required. With
//     ReplyGuess, a lone byte is the 1-byte form; otherwise a 0x00 after the
//     type byte means a port follows (a port < 2^24 has a zero high byte, and
//     no APF message starts with type 0), and anything else is the next
//     message, so the 1-byte form. A 5-byte reply split after its first byte
//     is misread by the guess; sessions set opts.Reply (the Framer keeps a
//     queue of expectations for this).
//   - USERAUTH_FAILURE: after the partial-success byte, one more 0x00 is taken
//     as the DMT/MeshCentral trailer (15 bytes for "password"); otherwise the
//     message is the 14-byte SSH form. The Framer swallows a 0x00 that arrives
//     after a 14-byte failure was returned, so splits there are harmless.
func Decode(b []byte, opts Options) (Message, int, error) {
	return decode(b, &opts, nil, false, nil)
}

func decode(b []byte, o *Options, s *scratch, cheap bool, needOut *int) (m Message, n int, err error) {
	if len(b) == 0 {
		if cheap {
			return nil, 0, errNeedMore
		}
		return nil, 0, wireerr.Short(Proto, "message", "type", 0, 1, 0)
	}
	t := MsgType(b[0])
	d := decoder{b: b, off: 1, msg: t.String(), cheap: cheap,
		maxString: o.maxString(), maxData: o.maxData(), maxPayload: o.maxPayload(),
		reply: o.Reply, tolerateUnknown: o.TolerateUnknownGlobal}
	m, err = d.body(t, s)
	if err != nil {
		if needOut != nil {
			*needOut = d.need
		}
		return nil, 0, err
	}
	return m, d.off, nil
}

func (d *decoder) body(t MsgType, s *scratch) (Message, error) {
	switch t {
	case TypeDisconnect:
		r, err := d.u32("reason")
		if err != nil {
			return nil, err
		}
		if len(d.b) < d.off+2 {
			return nil, d.short("reserved", 2)
		}
		res := binary.BigEndian.Uint16(d.b[d.off:])
		d.off += 2
		return &Disconnect{Reason: DisconnectReason(r), Reserved: res}, nil

	case TypeServiceRequest, TypeServiceAccept:
		name, err := d.str("service name")
		if err != nil {
			return nil, err
		}
		if t == TypeServiceRequest {
			return &ServiceRequest{Service: name}, nil
		}
		return &ServiceAccept{Service: name}, nil

	case TypeUserauthRequest:
		return d.userauthRequest()

	case TypeUserauthFailure:
		methods, err := d.str("methods")
		if err != nil {
			return nil, err
		}
		ps, err := d.boolean("partial success")
		if err != nil {
			return nil, err
		}
		m := &UserauthFailure{Methods: methods, PartialSuccess: ps}
		if len(d.b) > d.off && d.b[d.off] == 0 {
			m.ExtraZero = true
			d.off++
		}
		return m, nil

	case TypeUserauthSuccess:
		return &UserauthSuccess{}, nil

	case TypeGlobalRequest:
		return d.globalRequest()

	case TypeRequestSuccess:
		return d.requestSuccess()

	case TypeRequestFailure:
		return &RequestFailure{}, nil

	case TypeChannelOpen:
		return d.channelOpen()

	case TypeChannelOpenConfirmation:
		var v [4]uint32
		for i, f := range [4]string{"recipient channel", "sender channel", "initial window size", "reserved"} {
			var err error
			if v[i], err = d.u32(f); err != nil {
				return nil, err
			}
		}
		return &ChannelOpenConfirmation{Recipient: v[0], Sender: v[1], Window: v[2], Reserved: v[3]}, nil

	case TypeChannelOpenFailure:
		rc, err := d.u32("recipient channel")
		if err != nil {
			return nil, err
		}
		reason, err := d.u32("reason")
		if err != nil {
			return nil, err
		}
		desc, err := d.str("description")
		if err != nil {
			return nil, err
		}
		lang, err := d.str("language")
		if err != nil {
			return nil, err
		}
		return &ChannelOpenFailure{Recipient: rc, Reason: OpenFailureReason(reason), Description: desc, Language: lang}, nil

	case TypeChannelWindowAdjust:
		rc, err := d.u32("recipient channel")
		if err != nil {
			return nil, err
		}
		add, err := d.u32("bytes to add")
		if err != nil {
			return nil, err
		}
		if s != nil {
			s.wa = ChannelWindowAdjust{Recipient: rc, BytesToAdd: add}
			return &s.wa, nil
		}
		return &ChannelWindowAdjust{Recipient: rc, BytesToAdd: add}, nil

	case TypeChannelData:
		rc, err := d.u32("recipient channel")
		if err != nil {
			return nil, err
		}
		data, err := d.bytes("data", d.maxData)
		if err != nil {
			return nil, err
		}
		if s != nil {
			s.data = ChannelData{Recipient: rc, Data: data}
			return &s.data, nil
		}
		return &ChannelData{Recipient: rc, Data: data}, nil

	case TypeChannelClose:
		rc, err := d.u32("recipient channel")
		if err != nil {
			return nil, err
		}
		return &ChannelClose{Recipient: rc}, nil

	case TypeProtocolVersion:
		if len(d.b) < 93 {
			// Both Node MPSes wait for all 93 bytes; name the field the
			// input stops in.
			field := "reserved"
			switch {
			case len(d.b) < 5:
				field = "major version"
			case len(d.b) < 9:
				field = "minor version"
			case len(d.b) < 13:
				field = "trigger reason"
			case len(d.b) < 29:
				field = "uuid"
			}
			d.off = 1
			return nil, d.short(field, 92)
		}
		m := &ProtocolVersion{
			Major:   binary.BigEndian.Uint32(d.b[1:]),
			Minor:   binary.BigEndian.Uint32(d.b[5:]),
			Trigger: TriggerReason(binary.BigEndian.Uint32(d.b[9:])),
		}
		copy(m.UUID[:], d.b[13:29])
		copy(m.Reserved[:], d.b[29:93])
		d.off = 93
		return m, nil

	case TypeKeepaliveRequest, TypeKeepaliveReply:
		c, err := d.u32("cookie")
		if err != nil {
			return nil, err
		}
		if t == TypeKeepaliveRequest {
			if s != nil {
				s.ka = KeepaliveRequest{Cookie: c}
				return &s.ka, nil
			}
			return &KeepaliveRequest{Cookie: c}, nil
		}
		if s != nil {
			s.kr = KeepaliveReply{Cookie: c}
			return &s.kr, nil
		}
		return &KeepaliveReply{Cookie: c}, nil

	case TypeKeepaliveOptionsRequest, TypeKeepaliveOptionsReply:
		iv, err := d.u32("keepalive interval")
		if err != nil {
			return nil, err
		}
		to, err := d.u32("timeout")
		if err != nil {
			return nil, err
		}
		if t == TypeKeepaliveOptionsRequest {
			return &KeepaliveOptionsRequest{Interval: iv, Timeout: to}, nil
		}
		return &KeepaliveOptionsReply{Interval: iv, Timeout: to}, nil
	}
	d.msg = "message"
	return nil, d.bad("type", 0, "a known APF message type", fmt.Sprintf("0x%02x (%d)", uint8(t), uint8(t)))
}

func (d *decoder) userauthRequest() (Message, error) {
	user, err := d.str("username")
	if err != nil {
		return nil, err
	}
	svc, err := d.str("service name")
	if err != nil {
		return nil, err
	}
	at := d.off
	method, err := d.str("method")
	if err != nil {
		return nil, err
	}
	m := &UserauthRequest{Username: user, Service: svc, Method: method}
	switch method {
	case MethodNone:
		return m, nil
	case MethodPassword:
	default:
		return nil, d.bad("method", at, `"password" or "none"`, quote([]byte(method)))
	}
	if m.ChangePassword, err = d.boolean("change password"); err != nil {
		return nil, err
	}
	if m.Password, err = d.str("password"); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *decoder) globalRequest() (Message, error) {
	nameB, err := d.bytes("request name", d.maxString)
	if err != nil {
		return nil, err
	}
	want, err := d.boolean("want reply")
	if err != nil {
		return nil, err
	}
	name := string(nameB)
	switch name {
	case RequestTCPIPForward, RequestCancelTCPIPForward:
		d.msg = "GLOBAL_REQUEST " + name
		addr, err := d.str("address")
		if err != nil {
			return nil, err
		}
		port, err := d.u32("port")
		if err != nil {
			return nil, err
		}
		if name == RequestTCPIPForward {
			return &TCPIPForward{WantReply: want, Address: addr, Port: port}, nil
		}
		return &CancelTCPIPForward{WantReply: want, Address: addr, Port: port}, nil

	case RequestUDPSendTo:
		d.msg = "GLOBAL_REQUEST " + name
		m := &UDPSendTo{WantReply: want}
		if m.Address, err = d.str("address"); err != nil {
			return nil, err
		}
		if m.Port, err = d.u32("port"); err != nil {
			return nil, err
		}
		if m.OriginatorAddr, err = d.str("originator address"); err != nil {
			return nil, err
		}
		if m.OriginatorPort, err = d.u32("originator port"); err != nil {
			return nil, err
		}
		if m.Data, err = d.bytes("data", d.maxPayload); err != nil {
			return nil, err
		}
		return m, nil
	}
	if strings.HasSuffix(name, ExtensionSuffix) && len(name) > len(ExtensionSuffix) {
		d.msg = "GLOBAL_REQUEST " + name
		p, err := d.bytes("payload", d.maxPayload)
		if err != nil {
			return nil, err
		}
		return &ExtensionRequest{Name: name, WantReply: want, Payload: p}, nil
	}
	if d.tolerateUnknown {
		return &UnknownGlobalRequest{Name: name, WantReply: want}, nil
	}
	return nil, d.bad("request name", 5, "tcpip-forward, cancel-tcpip-forward, udp-send-to@amt.intel.com or *@oobtb", quote(nameB))
}

func (d *decoder) requestSuccess() (Message, error) {
	withPort := false
	switch d.reply {
	case ReplyWithPort:
		withPort = true
	case ReplyNoPort:
	default:
		withPort = len(d.b) > 1 && d.b[1] == 0
	}
	if !withPort {
		return &RequestSuccess{}, nil
	}
	p, err := d.u32("port")
	if err != nil {
		return nil, err
	}
	return &RequestSuccess{HasPort: true, Port: p}, nil
}

func (d *decoder) channelOpen() (Message, error) {
	m := &ChannelOpen{}
	var err error
	if m.ChannelType, err = d.str("channel type"); err != nil {
		return nil, err
	}
	if m.Sender, err = d.u32("sender channel"); err != nil {
		return nil, err
	}
	if m.Window, err = d.u32("initial window size"); err != nil {
		return nil, err
	}
	if m.Reserved, err = d.u32("reserved"); err != nil {
		return nil, err
	}
	if m.TargetAddr, err = d.str("target address"); err != nil {
		return nil, err
	}
	if m.TargetPort, err = d.u32("target port"); err != nil {
		return nil, err
	}
	if m.OriginatorAddr, err = d.str("originator address"); err != nil {
		return nil, err
	}
	if m.OriginatorPort, err = d.u32("originator port"); err != nil {
		return nil, err
	}
	return m, nil
}
