package apf_test

import (
	"github.com/oobtb/oobtb/internal/hexvec"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// wire reads a golden vector in the reference's notation.
var wire = hexvec.Parse

type vector struct {
	name  string
	hex   string // hand-written from the reference
	msg   apf.Message
	reply apf.ReplyKind
}

var exampleGUID = apf.MustParseGUID("12345678-9abc-def0-1122-334455667788")

// vectors holds every §6 APF example and one instance of every §1.4 layout.
var vectors = []vector{
	// §6 worked examples.
	{"§6 PROTOCOL_VERSION periodic", `c0 00000001 00000000 00000004 78563412 bc9af0de 11223344 55667788 zeros(64)`,
		&apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: apf.TriggerPeriodic, UUID: exampleGUID}, 0},
	{"§6 SERVICE_REQUEST auth", `05 00000012 "auth@amt.intel.com"`,
		&apf.ServiceRequest{Service: apf.ServiceAuth}, 0},
	{"§6 USERAUTH_REQUEST admin/P@ssw0rd", `32 00000005 "admin" 00000012 "pfwd@amt.intel.com" 00000008 "password" 00 00000008 "P@ssw0rd"`,
		&apf.UserauthRequest{Username: "admin", Service: apf.ServicePfwd, Method: "password", Password: "P@ssw0rd"}, 0},
	{"§6 GLOBAL_REQUEST tcpip-forward", `50 0000000d "tcpip-forward" 01 00000009 "amt.local" 00004260`,
		&apf.TCPIPForward{WantReply: true, Address: "amt.local", Port: 16992}, 0},
	{"§6 REQUEST_SUCCESS port", `51 00004260`,
		&apf.RequestSuccess{HasPort: true, Port: 16992}, apf.ReplyWithPort},
	{"§6 CHANNEL_OPEN MeshCentral", `5a 0000000f "forwarded-tcpip" 00000004 00008000 ffffffff
	                                 00000000 00004260 00000007 "1.2.3.4" 00000400`,
		&apf.ChannelOpen{ChannelType: "forwarded-tcpip", Sender: 4, Window: 32768, Reserved: 0xFFFFFFFF,
			TargetPort: 16992, OriginatorAddr: "1.2.3.4", OriginatorPort: 1024}, 0},
	{"§6 CHANNEL_OPEN_CONFIRMATION", `5b 00000004 00000001 00008000 ffffffff`,
		&apf.ChannelOpenConfirmation{Recipient: 4, Sender: 1, Window: 32768, Reserved: 0xFFFFFFFF}, 0},
	{"§6 KEEPALIVE_OPTIONS_REQUEST", `d2 0000001e 00000000`,
		&apf.KeepaliveOptionsRequest{Interval: 30}, 0},

	// §1.4 layout tables.
	{"DISCONNECT by application", `01 0000000b 0000`,
		&apf.Disconnect{Reason: apf.DisconnectByApplication}, 0},
	{"SERVICE_ACCEPT pfwd", `06 00000012 "pfwd@amt.intel.com"`,
		&apf.ServiceAccept{Service: apf.ServicePfwd}, 0},
	{"USERAUTH_REQUEST none", `32 00000005 "admin" 00000012 "pfwd@amt.intel.com" 00000004 "none"`,
		&apf.UserauthRequest{Username: "admin", Service: apf.ServicePfwd, Method: "none"}, 0},
	{"USERAUTH_FAILURE 15 bytes (DMT MPS, MeshCentral)", `33 00000008 "password" 00 00`,
		&apf.UserauthFailure{Methods: "password", ExtraZero: true}, 0},
	{"USERAUTH_FAILURE 14 bytes (SSH, go-wsman-messages)", `33 00000008 "password" 00`,
		&apf.UserauthFailure{Methods: "password"}, 0},
	{"USERAUTH_SUCCESS", `34`, &apf.UserauthSuccess{}, 0},
	{"GLOBAL_REQUEST cancel-tcpip-forward", `50 00000014 "cancel-tcpip-forward" 01 00000000 00004260`,
		&apf.CancelTCPIPForward{WantReply: true, Port: 16992}, 0},
	{"GLOBAL_REQUEST udp-send-to", `50 00000019 "udp-send-to@amt.intel.com" 01 00000007 "1.2.3.4" 0000026f
	                                00000007 "5.6.7.8" 00000400 00000003 aabbcc`,
		&apf.UDPSendTo{WantReply: true, Address: "1.2.3.4", Port: 623, OriginatorAddr: "5.6.7.8", OriginatorPort: 1024,
			Data: []byte{0xaa, 0xbb, 0xcc}}, 0},
	{"GLOBAL_REQUEST gateway-info@oobtb", `50 00000012 "gateway-info@oobtb" 01 00000003 010203`,
		&apf.ExtensionRequest{Name: "gateway-info@oobtb", WantReply: true, Payload: []byte{1, 2, 3}}, 0},
	{"REQUEST_SUCCESS 1 byte (cancel)", `51`, &apf.RequestSuccess{}, apf.ReplyNoPort},
	{"REQUEST_FAILURE", `52`, &apf.RequestFailure{}, 0},
	{"CHANNEL_OPEN direct-tcpip console style", `5a 0000000c "direct-tcpip" 00000001 00001000 ffffffff
	                                           00000003 "::1" 00004262 00000003 "::1" 0000007b`,
		&apf.ChannelOpen{ChannelType: "direct-tcpip", Sender: 1, Window: 4096, Reserved: 0xFFFFFFFF,
			TargetAddr: "::1", TargetPort: 16994, OriginatorAddr: "::1", OriginatorPort: 123}, 0},
	{"CHANNEL_OPEN_FAILURE connect failed", `5c 00000004 00000002 00000000 00000000`,
		&apf.ChannelOpenFailure{Recipient: 4, Reason: apf.OpenConnectFailed}, 0},
	{"CHANNEL_WINDOW_ADJUST", `5d 00000001 00004000`,
		&apf.ChannelWindowAdjust{Recipient: 1, BytesToAdd: 16384}, 0},
	{"CHANNEL_DATA", `5e 00000001 00000003 "abc"`,
		&apf.ChannelData{Recipient: 1, Data: []byte("abc")}, 0},
	{"CHANNEL_DATA empty", `5e 00000002 00000000`,
		&apf.ChannelData{Recipient: 2, Data: []byte{}}, 0},
	{"CHANNEL_CLOSE", `61 00000004`, &apf.ChannelClose{Recipient: 4}, 0},
	{"PROTOCOL_VERSION user-initiated", `c0 00000001 00000000 00000001 78563412 bc9af0de 11223344 55667788 zeros(64)`,
		&apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerUserInitiated, UUID: exampleGUID}, 0},
	{"KEEPALIVE_REQUEST", `d0 000000ff`, &apf.KeepaliveRequest{Cookie: 255}, 0},
	{"KEEPALIVE_REPLY", `d1 000000ff`, &apf.KeepaliveReply{Cookie: 255}, 0},
	{"KEEPALIVE_OPTIONS_REPLY console", `d3 0000001e 0000005a`,
		&apf.KeepaliveOptionsReply{Interval: 30, Timeout: 90}, 0},
}
