package apf

import "encoding/binary"

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func appendStr(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, s []byte) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Disconnect (1): 7 bytes.
type Disconnect struct {
	Reason   DisconnectReason
	Reserved uint16 // 0 on the wire; kept so a decode re-encodes identically
}

func (*Disconnect) Type() MsgType { return TypeDisconnect }
func (*Disconnect) Len() int      { return 7 }
func (m *Disconnect) Append(b []byte) []byte {
	b = appendU32(append(b, byte(TypeDisconnect)), uint32(m.Reason))
	return binary.BigEndian.AppendUint16(b, m.Reserved)
}

// ServiceRequest (5): AMT asks for auth@amt.intel.com or pfwd@amt.intel.com.
type ServiceRequest struct{ Service string }

func (*ServiceRequest) Type() MsgType { return TypeServiceRequest }
func (m *ServiceRequest) Len() int    { return 5 + len(m.Service) }
func (m *ServiceRequest) Append(b []byte) []byte {
	return appendStr(append(b, byte(TypeServiceRequest)), m.Service)
}

// ServiceAccept (6): the server accepts, echoing the name.
type ServiceAccept struct{ Service string }

func (*ServiceAccept) Type() MsgType { return TypeServiceAccept }
func (m *ServiceAccept) Len() int    { return 5 + len(m.Service) }
func (m *ServiceAccept) Append(b []byte) []byte {
	return appendStr(append(b, byte(TypeServiceAccept)), m.Service)
}

// UserauthRequest (50). With Method "password" the message carries the
// change-password boolean and the password; with "none" it ends after the
// method name, as in SSH.
type UserauthRequest struct {
	Username       string
	Service        string // AMT sends pfwd@amt.intel.com; servers ignore it
	Method         string
	ChangePassword bool // always false from AMT; the DMT console rejects true
	Password       string
}

func (*UserauthRequest) Type() MsgType { return TypeUserauthRequest }
func (m *UserauthRequest) Len() int {
	n := 13 + len(m.Username) + len(m.Service) + len(m.Method)
	if m.Method != MethodNone {
		n += 5 + len(m.Password)
	}
	return n
}
func (m *UserauthRequest) Append(b []byte) []byte {
	b = append(b, byte(TypeUserauthRequest))
	b = appendStr(b, m.Username)
	b = appendStr(b, m.Service)
	b = appendStr(b, m.Method)
	if m.Method == MethodNone {
		return b
	}
	b = appendBool(b, m.ChangePassword)
	return appendStr(b, m.Password)
}

// UserauthFailure (51). Two trailers exist in the field: SSH and
// go-wsman-messages send one partial-success byte (14 bytes with "password");
// DMT MPS and MeshCentral send two zero bytes (15 bytes). ExtraZero selects
// the second form and records which one was received.
type UserauthFailure struct {
	Methods        string // name-list that can continue, normally "password"
	PartialSuccess bool
	ExtraZero      bool
}

func (*UserauthFailure) Type() MsgType { return TypeUserauthFailure }
func (m *UserauthFailure) Len() int {
	n := 6 + len(m.Methods)
	if m.ExtraZero {
		n++
	}
	return n
}
func (m *UserauthFailure) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeUserauthFailure)), m.Methods)
	b = appendBool(b, m.PartialSuccess)
	if m.ExtraZero {
		b = append(b, 0)
	}
	return b
}

// UserauthSuccess (52): the single byte 0x34.
type UserauthSuccess struct{}

func (*UserauthSuccess) Type() MsgType          { return TypeUserauthSuccess }
func (*UserauthSuccess) Len() int               { return 1 }
func (*UserauthSuccess) Append(b []byte) []byte { return append(b, byte(TypeUserauthSuccess)) }

// GlobalRequest is implemented by every GLOBAL_REQUEST (80) variant.
type GlobalRequest interface {
	Message
	RequestName() string
	WantsReply() bool
	// ReplyKind says which REQUEST_SUCCESS form answers this request.
	ReplyKind() ReplyKind
}

// TCPIPForward is GLOBAL_REQUEST "tcpip-forward": AMT binds a port. The
// server answers with a 5-byte REQUEST_SUCCESS carrying the port.
type TCPIPForward struct {
	WantReply bool
	Address   string // AMT host name or FQDN; may be empty; nobody routes on it
	Port      uint32
}

func (*TCPIPForward) Type() MsgType        { return TypeGlobalRequest }
func (*TCPIPForward) RequestName() string  { return RequestTCPIPForward }
func (m *TCPIPForward) WantsReply() bool   { return m.WantReply }
func (*TCPIPForward) ReplyKind() ReplyKind { return ReplyWithPort }
func (m *TCPIPForward) Len() int           { return 14 + len(RequestTCPIPForward) + len(m.Address) }
func (m *TCPIPForward) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeGlobalRequest)), RequestTCPIPForward)
	b = appendBool(b, m.WantReply)
	b = appendStr(b, m.Address)
	return appendU32(b, m.Port)
}

// CancelTCPIPForward is GLOBAL_REQUEST "cancel-tcpip-forward", answered by a
// 1-byte REQUEST_SUCCESS.
type CancelTCPIPForward struct {
	WantReply bool
	Address   string
	Port      uint32
}

func (*CancelTCPIPForward) Type() MsgType        { return TypeGlobalRequest }
func (*CancelTCPIPForward) RequestName() string  { return RequestCancelTCPIPForward }
func (m *CancelTCPIPForward) WantsReply() bool   { return m.WantReply }
func (*CancelTCPIPForward) ReplyKind() ReplyKind { return ReplyNoPort }
func (m *CancelTCPIPForward) Len() int {
	return 14 + len(RequestCancelTCPIPForward) + len(m.Address)
}
func (m *CancelTCPIPForward) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeGlobalRequest)), RequestCancelTCPIPForward)
	b = appendBool(b, m.WantReply)
	b = appendStr(b, m.Address)
	return appendU32(b, m.Port)
}

// UDPSendTo is GLOBAL_REQUEST "udp-send-to@amt.intel.com". Stock servers parse
// and drop it.
type UDPSendTo struct {
	WantReply      bool
	Address        string
	Port           uint32
	OriginatorAddr string
	OriginatorPort uint32
	Data           []byte // aliases the decoder's input
}

func (*UDPSendTo) Type() MsgType        { return TypeGlobalRequest }
func (*UDPSendTo) RequestName() string  { return RequestUDPSendTo }
func (m *UDPSendTo) WantsReply() bool   { return m.WantReply }
func (*UDPSendTo) ReplyKind() ReplyKind { return ReplyNoPort }
func (m *UDPSendTo) Len() int {
	return 6 + len(RequestUDPSendTo) + 4 + len(m.Address) + 4 + 4 + len(m.OriginatorAddr) + 4 + 4 + len(m.Data)
}
func (m *UDPSendTo) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeGlobalRequest)), RequestUDPSendTo)
	b = appendBool(b, m.WantReply)
	b = appendStr(b, m.Address)
	b = appendU32(b, m.Port)
	b = appendStr(b, m.OriginatorAddr)
	b = appendU32(b, m.OriginatorPort)
	return appendBytes(b, m.Data)
}

// ExtensionRequest is a GLOBAL_REQUEST whose name ends in "@oobtb". Its
// request-specific part is one str payload, interpreted by package gwext.
// Only send it to a peer that has proved support (docs/protocols/gateway-extension.md):
// stock servers consume only 6+R bytes of an unknown global request and lose
// framing.
type ExtensionRequest struct {
	Name      string // e.g. "gateway-info@oobtb"
	WantReply bool
	Payload   []byte // aliases the decoder's input
}

func (*ExtensionRequest) Type() MsgType         { return TypeGlobalRequest }
func (m *ExtensionRequest) RequestName() string { return m.Name }
func (m *ExtensionRequest) WantsReply() bool    { return m.WantReply }
func (*ExtensionRequest) ReplyKind() ReplyKind  { return ReplyNoPort }
func (m *ExtensionRequest) Len() int            { return 10 + len(m.Name) + len(m.Payload) }
func (m *ExtensionRequest) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeGlobalRequest)), m.Name)
	b = appendBool(b, m.WantReply)
	return appendBytes(b, m.Payload)
}

// UnknownGlobalRequest is only produced with Options.TolerateUnknownGlobal: a
// global request with a name this codec does not know, assumed (as the stock
// Node MPSes assume) to carry no request-specific data.
type UnknownGlobalRequest struct {
	Name      string
	WantReply bool
}

func (*UnknownGlobalRequest) Type() MsgType         { return TypeGlobalRequest }
func (m *UnknownGlobalRequest) RequestName() string { return m.Name }
func (m *UnknownGlobalRequest) WantsReply() bool    { return m.WantReply }
func (*UnknownGlobalRequest) ReplyKind() ReplyKind  { return ReplyNoPort }
func (m *UnknownGlobalRequest) Len() int            { return 6 + len(m.Name) }
func (m *UnknownGlobalRequest) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeGlobalRequest)), m.Name)
	return appendBool(b, m.WantReply)
}

// RequestSuccess (81): 5 bytes with the port in answer to tcpip-forward, 1
// byte otherwise.
type RequestSuccess struct {
	HasPort bool
	Port    uint32
}

func (*RequestSuccess) Type() MsgType { return TypeRequestSuccess }
func (m *RequestSuccess) Len() int {
	if m.HasPort {
		return 5
	}
	return 1
}
func (m *RequestSuccess) Append(b []byte) []byte {
	b = append(b, byte(TypeRequestSuccess))
	if m.HasPort {
		b = appendU32(b, m.Port)
	}
	return b
}

// RequestFailure (82): 1 byte.
type RequestFailure struct{}

func (*RequestFailure) Type() MsgType          { return TypeRequestFailure }
func (*RequestFailure) Len() int               { return 1 }
func (*RequestFailure) Append(b []byte) []byte { return append(b, byte(TypeRequestFailure)) }

// ChannelOpen (90). forwarded-tcpip and direct-tcpip share this layout; the
// stock servers parse every channel type with it, and so does Decode, so a
// peer can refuse an unknown type with reason 3.
type ChannelOpen struct {
	ChannelType    string
	Sender         uint32 // the opener's channel id
	Window         uint32 // bytes the opener is willing to receive
	Reserved       uint32 // ReservedMaxPacket from servers
	TargetAddr     string
	TargetPort     uint32
	OriginatorAddr string
	OriginatorPort uint32
}

func (*ChannelOpen) Type() MsgType { return TypeChannelOpen }
func (m *ChannelOpen) Len() int {
	return 33 + len(m.ChannelType) + len(m.TargetAddr) + len(m.OriginatorAddr)
}
func (m *ChannelOpen) Append(b []byte) []byte {
	b = appendStr(append(b, byte(TypeChannelOpen)), m.ChannelType)
	b = appendU32(b, m.Sender)
	b = appendU32(b, m.Window)
	b = appendU32(b, m.Reserved)
	b = appendStr(b, m.TargetAddr)
	b = appendU32(b, m.TargetPort)
	b = appendStr(b, m.OriginatorAddr)
	return appendU32(b, m.OriginatorPort)
}

// ChannelOpenConfirmation (91): 17 bytes.
type ChannelOpenConfirmation struct {
	Recipient uint32 // the opener's id from CHANNEL_OPEN
	Sender    uint32 // the confirming side's own id
	Window    uint32
	Reserved  uint32 // ReservedMaxPacket in practice
}

func (*ChannelOpenConfirmation) Type() MsgType { return TypeChannelOpenConfirmation }
func (*ChannelOpenConfirmation) Len() int      { return 17 }
func (m *ChannelOpenConfirmation) Append(b []byte) []byte {
	b = appendU32(append(b, byte(TypeChannelOpenConfirmation)), m.Recipient)
	b = appendU32(b, m.Sender)
	b = appendU32(b, m.Window)
	return appendU32(b, m.Reserved)
}

// ChannelOpenFailure (92): 17 bytes as APF sends it. APF's two trailing u32
// zeros are byte-identical to SSH's empty description and language strings,
// so they are decoded as strings: an SSH-style peer that fills them in is
// still framed correctly.
type ChannelOpenFailure struct {
	Recipient   uint32
	Reason      OpenFailureReason
	Description string
	Language    string
}

func (*ChannelOpenFailure) Type() MsgType { return TypeChannelOpenFailure }
func (m *ChannelOpenFailure) Len() int    { return 17 + len(m.Description) + len(m.Language) }
func (m *ChannelOpenFailure) Append(b []byte) []byte {
	b = appendU32(append(b, byte(TypeChannelOpenFailure)), m.Recipient)
	b = appendU32(b, uint32(m.Reason))
	b = appendStr(b, m.Description)
	return appendStr(b, m.Language)
}

// ChannelWindowAdjust (93): 9 bytes.
type ChannelWindowAdjust struct {
	Recipient  uint32
	BytesToAdd uint32
}

func (*ChannelWindowAdjust) Type() MsgType { return TypeChannelWindowAdjust }
func (*ChannelWindowAdjust) Len() int      { return 9 }
func (m *ChannelWindowAdjust) Append(b []byte) []byte {
	return appendU32(appendU32(append(b, byte(TypeChannelWindowAdjust)), m.Recipient), m.BytesToAdd)
}

// ChannelData (94): 9+n bytes. Data aliases the decoder's input.
type ChannelData struct {
	Recipient uint32
	Data      []byte
}

func (*ChannelData) Type() MsgType { return TypeChannelData }
func (m *ChannelData) Len() int    { return 9 + len(m.Data) }
func (m *ChannelData) Append(b []byte) []byte {
	return appendBytes(appendU32(append(b, byte(TypeChannelData)), m.Recipient), m.Data)
}

// AppendChannelDataHeader appends the 9-byte CHANNEL_DATA header for n payload
// bytes, so a sender can read the payload straight into the buffer after it.
func AppendChannelDataHeader(b []byte, recipient uint32, n int) []byte {
	return appendU32(appendU32(append(b, byte(TypeChannelData)), recipient), uint32(n))
}

// ChannelClose (97): 5 bytes.
type ChannelClose struct{ Recipient uint32 }

func (*ChannelClose) Type() MsgType { return TypeChannelClose }
func (*ChannelClose) Len() int      { return 5 }
func (m *ChannelClose) Append(b []byte) []byte {
	return appendU32(append(b, byte(TypeChannelClose)), m.Recipient)
}

// ProtocolVersion (192): 93 bytes. Reserved is ignored by every stock server;
// package gwext stores the oobtb capability block there.
type ProtocolVersion struct {
	Major    uint32
	Minor    uint32
	Trigger  TriggerReason
	UUID     GUID
	Reserved [64]byte
}

func (*ProtocolVersion) Type() MsgType { return TypeProtocolVersion }
func (*ProtocolVersion) Len() int      { return 93 }
func (m *ProtocolVersion) Append(b []byte) []byte {
	b = appendU32(append(b, byte(TypeProtocolVersion)), m.Major)
	b = appendU32(b, m.Minor)
	b = appendU32(b, uint32(m.Trigger))
	b = append(b, m.UUID[:]...)
	return append(b, m.Reserved[:]...)
}

// KeepaliveRequest (208): 5 bytes.
type KeepaliveRequest struct{ Cookie uint32 }

func (*KeepaliveRequest) Type() MsgType { return TypeKeepaliveRequest }
func (*KeepaliveRequest) Len() int      { return 5 }
func (m *KeepaliveRequest) Append(b []byte) []byte {
	return appendU32(append(b, byte(TypeKeepaliveRequest)), m.Cookie)
}

// KeepaliveReply (209): 5 bytes, echoing the request's cookie.
type KeepaliveReply struct{ Cookie uint32 }

func (*KeepaliveReply) Type() MsgType { return TypeKeepaliveReply }
func (*KeepaliveReply) Len() int      { return 5 }
func (m *KeepaliveReply) Append(b []byte) []byte {
	return appendU32(append(b, byte(TypeKeepaliveReply)), m.Cookie)
}

// KeepaliveOptionsRequest (210): 9 bytes, seconds.
type KeepaliveOptionsRequest struct{ Interval, Timeout uint32 }

func (*KeepaliveOptionsRequest) Type() MsgType { return TypeKeepaliveOptionsRequest }
func (*KeepaliveOptionsRequest) Len() int      { return 9 }
func (m *KeepaliveOptionsRequest) Append(b []byte) []byte {
	return appendU32(appendU32(append(b, byte(TypeKeepaliveOptionsRequest)), m.Interval), m.Timeout)
}

// KeepaliveOptionsReply (211): 9 bytes, seconds.
type KeepaliveOptionsReply struct{ Interval, Timeout uint32 }

func (*KeepaliveOptionsReply) Type() MsgType { return TypeKeepaliveOptionsReply }
func (*KeepaliveOptionsReply) Len() int      { return 9 }
func (m *KeepaliveOptionsReply) Append(b []byte) []byte {
	return appendU32(appendU32(append(b, byte(TypeKeepaliveOptionsReply)), m.Interval), m.Timeout)
}
