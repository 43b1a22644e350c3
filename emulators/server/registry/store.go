// Package registry is the management server's persistent state: enrolled
// devices and their credentials, gateways and their identifiers, pairings
// with their one-time tokens, user-initiated help requests, and the audit
// log.
//
// Store is the seam: the server talks only to the interface, and SQLite
// (Open, embedded, pure Go) is its first implementation; a PostgreSQL one
// can follow behind the same interface. Every call takes a context and,
// where the answer depends on it, the current time as an argument, so the
// simulator and tests control time.
//
// Secrets: CIRA passwords are stored as salted PBKDF2-SHA256 hashes and
// verified in constant time; AMT (WS-MAN/redirection) passwords must be
// usable by the server to compute digests, so they are sealed with AES-GCM
// under a key file in the data directory (0600); enrolment and pairing
// tokens are stored as SHA-256 hashes only. See docs/registry.md.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors the store returns; test with errors.Is. Errors never contain
// secrets.
var (
	ErrNotFound       = errors.New("registry: not found")
	ErrExists         = errors.New("registry: already exists")
	ErrBadCredentials = errors.New("registry: bad credentials")
	ErrUnknownDevice  = errors.New("registry: unknown device")
	ErrInvalid        = errors.New("registry: invalid argument")
	ErrAmbiguous      = errors.New("registry: identifier matches more than one gateway")
	ErrToken          = errors.New("registry: token refused")
	ErrConflict       = errors.New("registry: state conflict")
	ErrClosed         = errors.New("registry: store closed")
)

// Store is the registry interface the server depends on.
type Store interface {
	// Devices.
	EnrolDevice(ctx context.Context, e DeviceEnrolment, now time.Time) (Device, error)
	GetDevice(ctx context.Context, uuid string) (Device, error)
	ListDevices(ctx context.Context, p Page) ([]Device, string, error)
	// VerifyCIRA checks the APF USERAUTH password for a device. A wrong
	// user or password returns ErrBadCredentials, an unknown or malformed
	// UUID ErrUnknownDevice; the APF reply is the same failure for both, the
	// distinction is for logs and metrics.
	VerifyCIRA(ctx context.Context, uuid, user, password string) error
	// AMTCredentials returns the WS-MAN/redirection user and password in
	// clear, for the server's digest computation only.
	AMTCredentials(ctx context.Context, uuid string) (user, password string, err error)
	UpdateCredentials(ctx context.Context, uuid string, c CredentialUpdate, now time.Time) error
	UpdateConnection(ctx context.Context, uuid string, u ConnectionUpdate) (Device, error)
	// DeviceExists says whether uuid is enrolled (false, nil when not).
	DeviceExists(ctx context.Context, uuid string) (bool, error)
	// ApplyWrites applies connection updates and audit records in order,
	// grouped into few transactions, and returns each one's outcome.
	ApplyWrites(ctx context.Context, ws []Write) []error
	DeleteDevice(ctx context.Context, uuid string) error

	// Gateways.
	CreateGateway(ctx context.Context, id string, now time.Time) (enrolToken string, err error)
	EnrolGateway(ctx context.Context, e GatewayEnrolment, now time.Time) (Gateway, error)
	RegisterGateway(ctx context.Context, id string, r GatewayRegistration, now time.Time) (Gateway, error)
	GatewayHeartbeat(ctx context.Context, id string, online bool, now time.Time) error
	GetGateway(ctx context.Context, id string) (Gateway, error)
	ListGateways(ctx context.Context) ([]Gateway, error)
	FindGatewayByIdentifier(ctx context.Context, id Identifier) (Gateway, error)
	DeleteGateway(ctx context.Context, id string) error

	// Pairings.
	CreatePairing(ctx context.Context, p NewPairing, now time.Time) (Pairing, map[TokenRole]string, error)
	GetPairing(ctx context.Context, sessionID string) (Pairing, error)
	ListPairings(ctx context.Context, f PairingFilter) ([]Pairing, error)
	ConsumeToken(ctx context.Context, sessionID string, role TokenRole, token string, now time.Time) (Pairing, error)
	UpdatePairing(ctx context.Context, sessionID string, u PairingUpdate, now time.Time) (Pairing, error)
	ExpirePairings(ctx context.Context, now time.Time) (int, error)

	// Help requests (flow F2).
	CreateHelpRequest(ctx context.Context, deviceUUID, message string, now time.Time, ttl time.Duration) (HelpRequest, error)
	ListHelpRequests(ctx context.Context, state HelpState, now time.Time) ([]HelpRequest, error)
	GetHelpRequest(ctx context.Context, id string) (HelpRequest, error)
	AcceptHelpRequest(ctx context.Context, id, consoleID string, now time.Time) (HelpRequest, error)
	// LinkHelpRequest records the pairing session created for an accepted request.
	LinkHelpRequest(ctx context.Context, id, sessionID string) error

	// Audit log (append-only).
	AppendAudit(ctx context.Context, r AuditRecord) (int64, error)
	QueryAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, error)

	// SchemaVersion is the highest applied migration.
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}

// DeviceState is a device's connection state.
type DeviceState string

const (
	StateEnrolled     DeviceState = "enrolled" // never connected
	StateConnected    DeviceState = "connected"
	StateDisconnected DeviceState = "disconnected"
)

// ConnPath is how a connected device reaches the server.
type ConnPath string

const (
	PathNone    ConnPath = ""
	PathDirect  ConnPath = "direct"  // CIRA straight to the server
	PathGateway ConnPath = "gateway" // carried by a gateway (failover)
)

// BoundPort is one APF tcpip-forward the device holds.
type BoundPort struct {
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// Failover is the device's failover capability field as received: the raw
// bytes (nil when absent) and the server's decoded one-line summary.
type Failover struct {
	Raw     []byte `json:"raw,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// Device is a registry device record. It never carries secrets.
type Device struct {
	UUID          string       `json:"uuid"`
	CIRAUser      string       `json:"ciraUser"`
	AMTUser       string       `json:"amtUser"`
	State         DeviceState  `json:"state"`
	LastSeen      time.Time    `json:"lastSeen"`
	LastTrigger   string       `json:"lastTrigger,omitempty"`
	LastTriggerAt time.Time    `json:"lastTriggerAt"`
	BoundPorts    []BoundPort  `json:"boundPorts"`
	Failover      Failover     `json:"failover"`
	GatewayIDs    []Identifier `json:"gatewayIds"`
	Path          ConnPath     `json:"path,omitempty"`
	ViaGateway    string       `json:"viaGateway,omitempty"`
	RemoteAddr    string       `json:"remoteAddr,omitempty"`
	ConnectedAt   time.Time    `json:"connectedAt"`
	CreatedAt     time.Time    `json:"createdAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
}

// DeviceEnrolment creates a device.
type DeviceEnrolment struct {
	UUID         string
	CIRAUser     string
	CIRAPassword string
	AMTUser      string // "admin" when empty (DMT MPS fixes it so)
	AMTPassword  string
}

// CredentialUpdate changes a device's secrets; nil fields stay.
type CredentialUpdate struct {
	CIRAUser     *string
	CIRAPassword *string
	AMTUser      *string
	AMTPassword  *string
}

// ConnectionUpdate records a connection event. Now is required; nil
// pointers leave the stored value unchanged.
type ConnectionUpdate struct {
	Now        time.Time
	State      DeviceState // "" keeps the state (a keepalive just touches LastSeen)
	Trigger    *string
	BoundPorts *[]BoundPort
	Failover   *Failover
	GatewayIDs *[]Identifier
	Path       *ConnPath
	ViaGateway *string
	RemoteAddr *string
}

// Page selects a slice of a list ordered by key. After is the opaque
// cursor returned by the previous call ("" = from the start).
type Page struct {
	After string
	Limit int // DefaultPageLimit when 0, at most MaxPageLimit
}

const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// Gateway is a registered edge gateway.
type Gateway struct {
	ID            string       `json:"id"`
	Enrolled      bool         `json:"enrolled"`
	PublicKey     []byte       `json:"publicKey,omitempty"` // static X25519, 32 bytes
	Identifiers   []Identifier `json:"identifiers"`
	WANEndpoints  []string     `json:"wanEndpoints"`
	LANDomain     string       `json:"lanDomain,omitempty"`
	LANPrefixes   []string     `json:"lanPrefixes,omitempty"`
	Online        bool         `json:"online"`
	LastHeartbeat time.Time    `json:"lastHeartbeat"`
	CreatedAt     time.Time    `json:"createdAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
}

// Reachable reports whether the gateway is online with a heartbeat no older
// than maxAge at now.
func (g Gateway) Reachable(now time.Time, maxAge time.Duration) bool {
	return g.Online && !g.LastHeartbeat.IsZero() && now.Sub(g.LastHeartbeat) <= maxAge
}

// GatewayRegistration is what a gateway declares about itself on every
// (re)connect of its control channel; it replaces the previous declaration.
type GatewayRegistration struct {
	PublicKey    []byte
	Identifiers  []Identifier
	WANEndpoints []string
	LANDomain    string
	LANPrefixes  []string
}

// GatewayEnrolment is a gateway's first contact, with its one-time token.
type GatewayEnrolment struct {
	ID    string
	Token string
	GatewayRegistration
}

// TokenRole names who presents a pairing token.
type TokenRole string

const (
	RoleDevice  TokenRole = "device"  // vMC → gateway
	RoleConsole TokenRole = "console" // console → gateway or relay
	RoleGateway TokenRole = "gateway" // gateway → relay
)

// PairingState is a pairing's lifecycle state.
type PairingState string

const (
	PairingCreated PairingState = "created"
	PairingActive  PairingState = "active"
	PairingClosed  PairingState = "closed"
	PairingFailed  PairingState = "failed"
	PairingExpired PairingState = "expired"
)

// SessionPath is how a pairing's traffic flows.
type SessionPath string

const (
	SessionDirect  SessionPath = "direct"  // console ↔ gateway peer to peer
	SessionRelay   SessionPath = "relay"   // console ↔ server relay ↔ gateway (ciphertext)
	SessionClassic SessionPath = "classic" // server relays over the device's CIRA (F5)
)

// NewPairing is the input of CreatePairing. SessionID is generated when
// empty; one token is generated per role in Roles.
type NewPairing struct {
	SessionID        string
	DeviceUUID       string
	GatewayID        string // empty for the classic path
	ConsoleID        string
	TTL              time.Duration
	GatewayPublicKey []byte
	ConsolePublicKey []byte
	Path             SessionPath
	Reason           string
	Roles            []TokenRole
}

// Pairing is a stored pairing. Tokens are never returned after creation.
type Pairing struct {
	SessionID        string       `json:"sessionId"`
	DeviceUUID       string       `json:"deviceUuid"`
	GatewayID        string       `json:"gatewayId,omitempty"`
	ConsoleID        string       `json:"consoleId"`
	ExpiresAt        time.Time    `json:"expiresAt"`
	GatewayPublicKey []byte       `json:"gatewayPublicKey,omitempty"`
	ConsolePublicKey []byte       `json:"consolePublicKey,omitempty"`
	State            PairingState `json:"state"`
	Path             SessionPath  `json:"path"`
	Reason           string       `json:"reason,omitempty"`
	Outcome          string       `json:"outcome,omitempty"`
	CreatedAt        time.Time    `json:"createdAt"`
	UpdatedAt        time.Time    `json:"updatedAt"`
}

// PairingUpdate changes a pairing; zero fields stay.
type PairingUpdate struct {
	State   PairingState
	Path    SessionPath
	Reason  string
	Outcome string
}

// PairingFilter selects pairings for ListPairings (newest first).
type PairingFilter struct {
	DeviceUUID string
	GatewayID  string
	State      PairingState
	Limit      int
}

// TokenError says why ConsumeToken refused a token; it matches ErrToken.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "registry: token refused: " + e.Reason }

// Is makes errors.Is(err, ErrToken) true.
func (e *TokenError) Is(target error) bool { return target == ErrToken }

// Token refusal reasons.
const (
	TokenUnknown      = "unknown token"
	TokenReused       = "token already used"
	TokenExpired      = "pairing expired"
	TokenWrongRole    = "token issued for another role"
	TokenWrongSession = "token belongs to another session"
	TokenClosed       = "pairing no longer open"
)

// HelpState is a help request's state.
type HelpState string

const (
	HelpAny      HelpState = ""
	HelpOpen     HelpState = "open"
	HelpAccepted HelpState = "accepted"
	HelpExpired  HelpState = "expired"
)

// HelpRequest is a user-initiated request for remote help (flow F2).
type HelpRequest struct {
	ID         string    `json:"id"`
	DeviceUUID string    `json:"deviceUuid"`
	Message    string    `json:"message,omitempty"`
	State      HelpState `json:"state"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	AcceptedAt time.Time `json:"acceptedAt"`
	AcceptedBy string    `json:"acceptedBy,omitempty"`
	SessionID  string    `json:"sessionId,omitempty"`
}

// AuditRecord is one audit log entry. Details must be a JSON object (or
// empty); values under secret-looking keys are redacted on append.
type AuditRecord struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Outcome string          `json:"outcome"`
	Reason  string          `json:"reason,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

// AuditQuery selects audit records, oldest first. Zero fields do not filter.
type AuditQuery struct {
	Subject string
	Action  string
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	AfterID int64     // for paging
	Limit   int       // DefaultPageLimit when 0, at most MaxPageLimit
}
