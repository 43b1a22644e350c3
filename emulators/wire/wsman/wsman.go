// Package wsman is the WS-Management (SOAP 1.2) codec for Intel AMT's WS-MAN
// surface: a request parser that reads by namespace URI and local name (never
// by prefix), an instance model able to express every class the management
// servers read, a response writer producing AMT's exact compact style, and
// the client side (request builders in MeshCentral's and DMT's shapes and a
// response parser) for our server and console.
//
// The package is pure: no I/O, no goroutines, no clocks. Facts are from
// reference §3; docs/protocols/wsman.md is the spec page.
package wsman

import (
	"fmt"
	"strings"
)

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "WS-MAN"

// Namespace URIs.
const (
	NSSoap        = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSWSMan       = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSTrust       = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	NSWSSE        = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSCIMBinding  = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
	NSEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	NSTransfer    = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	NSEventing    = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
	NSCommon      = "http://schemas.dmtf.org/wbem/wscim/1/common"
	NSXSI         = "http://www.w3.org/2001/XMLSchema-instance"
	NSXSD         = "http://www.w3.org/2001/XMLSchema"
	NSXML         = "http://www.w3.org/XML/1998/namespace"
)

// Anonymous is the WS-Addressing anonymous role, used for ReplyTo and for
// AMT's To and EPR addresses.
const Anonymous = NSAddressing + "/role/anonymous"

// Operation is what a request asks for.
type Operation uint8

const (
	OpUnknown Operation = iota
	OpGet
	OpPut
	OpCreate
	OpDelete
	OpEnumerate
	OpPull
	OpRelease
	OpSubscribe
	OpUnsubscribe
	OpInvoke // a class method: Action = <resourceURI>/<Method>
)

var opNames = [...]string{"Unknown", "Get", "Put", "Create", "Delete", "Enumerate", "Pull", "Release", "Subscribe", "Unsubscribe", "Invoke"}

func (o Operation) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Operation(%d)", uint8(o))
}

// Action URIs of the standard operations.
const (
	ActionGet         = NSTransfer + "/Get"
	ActionPut         = NSTransfer + "/Put"
	ActionCreate      = NSTransfer + "/Create"
	ActionDelete      = NSTransfer + "/Delete"
	ActionEnumerate   = NSEnumeration + "/Enumerate"
	ActionPull        = NSEnumeration + "/Pull"
	ActionRelease     = NSEnumeration + "/Release"
	ActionSubscribe   = NSEventing + "/Subscribe"
	ActionUnsubscribe = NSEventing + "/Unsubscribe"
	ActionFault       = NSAddressing + "/fault"
)

var actionOps = map[string]Operation{
	ActionGet: OpGet, ActionPut: OpPut, ActionCreate: OpCreate, ActionDelete: OpDelete,
	ActionEnumerate: OpEnumerate, ActionPull: OpPull, ActionRelease: OpRelease,
	ActionSubscribe: OpSubscribe, ActionUnsubscribe: OpUnsubscribe,
}

// Action returns the action URI of a standard operation ("" for OpInvoke and
// OpUnknown).
func (o Operation) Action() string {
	for a, op := range actionOps {
		if op == o {
			return a
		}
	}
	return ""
}

// ParseAction maps an Action URI to its operation. For a method call it also
// returns the method name: the last path segment, which must follow
// resourceURI when resourceURI is given.
func ParseAction(action, resourceURI string) (Operation, string) {
	if op, ok := actionOps[action]; ok {
		return op, ""
	}
	if resourceURI != "" {
		if m, ok := strings.CutPrefix(action, resourceURI+"/"); ok && m != "" && !strings.Contains(m, "/") {
			return OpInvoke, m
		}
		return OpUnknown, ""
	}
	if k := strings.LastIndexByte(action, '/'); k > 0 && k < len(action)-1 {
		return OpInvoke, action[k+1:]
	}
	return OpUnknown, ""
}

// Resource URI prefixes by class prefix (§3.1).
const (
	PrefixAMT = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	PrefixCIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	PrefixIPS = "http://intel.com/wbem/wscim/1/ips-schema/1/"
)

// ResourceURI returns the resource URI of an AMT_, CIM_ or IPS_ class, or ""
// for any other name.
func ResourceURI(class string) string {
	switch {
	case strings.HasPrefix(class, "AMT_"):
		return PrefixAMT + class
	case strings.HasPrefix(class, "CIM_"):
		return PrefixCIM + class
	case strings.HasPrefix(class, "IPS_"):
		return PrefixIPS + class
	}
	return ""
}

// ClassName returns the class of a resource URI under one of the three
// prefixes, or "" otherwise.
func ClassName(resourceURI string) string {
	for _, p := range []string{PrefixAMT, PrefixCIM, PrefixIPS} {
		if c, ok := strings.CutPrefix(resourceURI, p); ok && c != "" && !strings.Contains(c, "/") {
			return c
		}
	}
	return ""
}
