package apiclient

import "time"

// Device is a device as GET /api/v1/devices shows it.
type Device struct {
	UUID          string       `json:"uuid"`
	CIRAUser      string       `json:"ciraUser"`
	AMTUser       string       `json:"amtUser"`
	State         string       `json:"state"` // enrolled, connected, disconnected
	LastSeen      time.Time    `json:"lastSeen"`
	LastTrigger   string       `json:"lastTrigger,omitempty"`
	LastTriggerAt time.Time    `json:"lastTriggerAt"`
	BoundPorts    []BoundPort  `json:"boundPorts"`
	Failover      Failover     `json:"failover"`
	GatewayIDs    []Identifier `json:"gatewayIds"`
	Path          string       `json:"path,omitempty"`
	ViaGateway    string       `json:"viaGateway,omitempty"`
	RemoteAddr    string       `json:"remoteAddr,omitempty"`
	ConnectedAt   time.Time    `json:"connectedAt"`
	CreatedAt     time.Time    `json:"createdAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
	Online        bool         `json:"online"`
	Extension     string       `json:"extension,omitempty"`
	Capability    string       `json:"capability,omitempty"`
}

// BoundPort is one APF tcpip-forward the device holds.
type BoundPort struct {
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// Failover is the device's failover capability field.
type Failover struct {
	Raw     []byte `json:"raw,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// Identifier is one typed gateway identifier.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// DeviceList is a page of devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
	Next    string   `json:"next,omitempty"`
}

// EnrolRequest is the body of POST /api/v1/devices.
type EnrolRequest struct {
	UUID     string `json:"uuid"`
	CIRAUser string `json:"ciraUser"`
	CIRAPass string `json:"ciraPass"`
	AMTUser  string `json:"amtUser,omitempty"`
	AMTPass  string `json:"amtPass"`
}

// PowerRequest is the body of POST /api/v1/devices/{uuid}/power.
type PowerRequest struct {
	Action string `json:"action"`
}

// PowerResult is the outcome of a power action.
type PowerResult struct {
	Action      string `json:"action"`
	PowerState  int    `json:"powerState"`
	ReturnValue int    `json:"returnValue"`
}

// PowerState is a device's power as WS-MAN reports it (CIM numbering).
type PowerState struct {
	PowerState         int    `json:"powerState"`
	Name               string `json:"name"`
	Available          []int  `json:"availableRequestedPowerStates,omitempty"`
	OSPowerSavingState int    `json:"osPowerSavingState,omitempty"`
}

// Object is a WS-MAN instance rendered as JSON.
type Object map[string]any

// Inventory is a device's hardware inventory.
type Inventory struct {
	Classes    map[string][]Object `json:"classes"`
	Missing    map[string]string   `json:"missing,omitempty"`
	AMTVersion string              `json:"amtVersion,omitempty"`
}

// SessionRequest is the body of POST /api/v1/sessions.
type SessionRequest struct {
	Device string `json:"device"`
	Mode   string `json:"mode"`
}

// Session is a relay session: a short-lived token and the relay URL.
type Session struct {
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	Mode     string    `json:"mode"`
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires"`
	RelayURL string    `json:"relayUrl"`
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	Subject, Action string
	After           int64
	Limit           int
}

// AuditRecord is one audit log entry.
type AuditRecord struct {
	ID      int64          `json:"id"`
	Time    time.Time      `json:"time"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Subject string         `json:"subject"`
	Outcome string         `json:"outcome"`
	Reason  string         `json:"reason,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// AuditList is a page of audit records.
type AuditList struct {
	Records []AuditRecord `json:"records"`
	Next    int64         `json:"next,omitempty"`
}
