package apf

import "strconv"

var triggerNames = map[TriggerReason]string{
	TriggerUserInitiated: "user-initiated", TriggerAlert: "alert",
	TriggerHITProvisioning: "HIT provisioning", TriggerPeriodic: "periodic", TriggerLME: "LME",
}

func (t TriggerReason) String() string {
	if s, ok := triggerNames[t]; ok {
		return s
	}
	return "trigger " + strconv.FormatUint(uint64(t), 10)
}

var disconnectNames = map[DisconnectReason]string{
	DisconnectHostNotAllowed: "host not allowed to connect", DisconnectProtocolError: "protocol error",
	DisconnectKeyExchangeFailed: "key exchange failed", DisconnectReserved: "reserved",
	DisconnectMACError: "MAC error", DisconnectCompressionError: "compression error",
	DisconnectServiceNotAvailable: "service not available", DisconnectProtocolVersionNotSupported: "protocol version not supported",
	DisconnectHostKeyNotVerifiable: "host key not verifiable", DisconnectConnectionLost: "connection lost",
	DisconnectByApplication: "by application", DisconnectTooManyConnections: "too many connections",
	DisconnectAuthCancelledByUser: "auth cancelled by user", DisconnectNoMoreAuthMethods: "no more auth methods available",
	DisconnectIllegalUserName: "illegal user name", DisconnectConnectionTimedOut: "connection timed out",
	DisconnectByPolicy: "by policy", DisconnectTemporarilyUnavailable: "temporarily unavailable",
}

func (r DisconnectReason) String() string {
	if s, ok := disconnectNames[r]; ok {
		return s
	}
	return "reason " + strconv.FormatUint(uint64(r), 10)
}

var openFailureNames = map[OpenFailureReason]string{
	OpenAdministrativelyProhibited: "administratively prohibited", OpenConnectFailed: "connect failed",
	OpenUnknownChannelType: "unknown channel type", OpenResourceShortage: "resource shortage",
}

func (r OpenFailureReason) String() string {
	if s, ok := openFailureNames[r]; ok {
		return s
	}
	return "reason " + strconv.FormatUint(uint64(r), 10)
}
