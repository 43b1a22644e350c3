package apf

// Service names carried by SERVICE_REQUEST/SERVICE_ACCEPT and in the service
// field of USERAUTH_REQUEST.
const (
	ServiceAuth = "auth@amt.intel.com"
	ServicePfwd = "pfwd@amt.intel.com"
)

// Authentication method names of USERAUTH_REQUEST and USERAUTH_FAILURE.
const (
	MethodPassword = "password"
	MethodNone     = "none"
)

// Global request names. Names ending in ExtensionSuffix are oobtb gateway
// extensions (package gwext) whose request-specific part is one str payload.
const (
	RequestTCPIPForward       = "tcpip-forward"
	RequestCancelTCPIPForward = "cancel-tcpip-forward"
	RequestUDPSendTo          = "udp-send-to@amt.intel.com"
	ExtensionSuffix           = "@oobtb"
)

// Channel types of CHANNEL_OPEN.
const (
	ChannelForwardedTCPIP = "forwarded-tcpip"
	ChannelDirectTCPIP    = "direct-tcpip"
)

// ReservedMaxPacket is what servers put in the reserved (SSH max-packet)
// fields of CHANNEL_OPEN and CHANNEL_OPEN_CONFIRMATION.
const ReservedMaxPacket uint32 = 0xFFFFFFFF

// PROTOCOL_VERSION values AMT sends.
const (
	MajorVersion uint32 = 1
	MinorVersion uint32 = 0
)

// TriggerReason is PROTOCOL_VERSION's trigger field.
type TriggerReason uint32

// Trigger reasons (LMS-IF APF_TRIGGER_REASON).
const (
	TriggerUserInitiated   TriggerReason = 1
	TriggerAlert           TriggerReason = 2
	TriggerHITProvisioning TriggerReason = 3
	TriggerPeriodic        TriggerReason = 4
	TriggerLME             TriggerReason = 254
)

// DisconnectReason is DISCONNECT's reason field.
type DisconnectReason uint32

// Disconnect reasons (LMS-IF; 16–18 appear only in DMT MPS's list).
const (
	DisconnectHostNotAllowed              DisconnectReason = 1
	DisconnectProtocolError               DisconnectReason = 2
	DisconnectKeyExchangeFailed           DisconnectReason = 3
	DisconnectReserved                    DisconnectReason = 4
	DisconnectMACError                    DisconnectReason = 5
	DisconnectCompressionError            DisconnectReason = 6
	DisconnectServiceNotAvailable         DisconnectReason = 7
	DisconnectProtocolVersionNotSupported DisconnectReason = 8
	DisconnectHostKeyNotVerifiable        DisconnectReason = 9
	DisconnectConnectionLost              DisconnectReason = 10
	DisconnectByApplication               DisconnectReason = 11
	DisconnectTooManyConnections          DisconnectReason = 12
	DisconnectAuthCancelledByUser         DisconnectReason = 13
	DisconnectNoMoreAuthMethods           DisconnectReason = 14
	DisconnectIllegalUserName             DisconnectReason = 15
	DisconnectConnectionTimedOut          DisconnectReason = 16
	DisconnectByPolicy                    DisconnectReason = 17
	DisconnectTemporarilyUnavailable      DisconnectReason = 18
)

// OpenFailureReason is CHANNEL_OPEN_FAILURE's reason field.
type OpenFailureReason uint32

// Channel-open failure reasons.
const (
	OpenAdministrativelyProhibited OpenFailureReason = 1
	OpenConnectFailed              OpenFailureReason = 2
	OpenUnknownChannelType         OpenFailureReason = 3
	OpenResourceShortage           OpenFailureReason = 4
)

// AMT's forwarded ports.
const (
	PortWSMAN       uint32 = 16992
	PortWSMANTLS    uint32 = 16993
	PortRedirect    uint32 = 16994
	PortRedirectTLS uint32 = 16995
	PortRMCP        uint32 = 623
	PortSecureRMCP  uint32 = 664
	PortVNC         uint32 = 5900
)

// ForwardedPortOrder is the order in which real AMT sends tcpip-forward, per
// comments in both Node MPSes. Servers treat the 5900 forward as "registration
// finished".
var ForwardedPortOrder = [...]uint32{PortWSMANTLS, PortWSMAN, PortSecureRMCP, PortRMCP, PortRedirectTLS, PortRedirect, PortVNC}

// Bounds.
const (
	// DefaultMaxString is the largest str the stock Node servers accept.
	DefaultMaxString = 2048
	// DefaultMaxData is DMT MPS's MAX_CIRA_WINDOW: larger CHANNEL_DATA is a
	// protocol error there.
	DefaultMaxData = 1 << 20
	// DefaultMaxPayload bounds the str payload of *@oobtb extension requests
	// and the data of udp-send-to.
	DefaultMaxPayload = 2048
	// ConsoleMaxMessage is the DMT console's single-read buffer: a sender that
	// must interoperate with it keeps every message at most this long.
	ConsoleMaxMessage = 4096
	// ConsoleMaxData is the largest CHANNEL_DATA payload that fits ConsoleMaxMessage.
	ConsoleMaxData = ConsoleMaxMessage - 9
)
