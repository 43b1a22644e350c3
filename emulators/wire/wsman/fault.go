package wsman

import "fmt"

// Fault is a SOAP 1.2 fault as AMT sends it. It is also the error the client
// side returns for a fault response.
type Fault struct {
	Code      string // "Sender" or "Receiver" (SOAP envelope namespace)
	SubcodeNS string // namespace of the subcode, e.g. NSAddressing
	Subcode   string // local name, e.g. "DestinationUnreachable"
	Reason    string
	Detail    string // optional wsman FaultDetail URI
}

func (f *Fault) Error() string {
	return fmt.Sprintf("WS-MAN fault %s/%s: %s", f.Code, f.Subcode, f.Reason)
}

// HTTPStatus is the status a fault travels with: 400 for sender faults (as
// AMT answers an unsupported class) and 500 for receiver faults. MeshCentral
// tolerates 400 in a batch but aborts on 500 (§3.2).
func (f *Fault) HTTPStatus() int {
	if f.Code == "Receiver" {
		return 500
	}
	return 400
}

// ReasonDestinationUnreachable is AMT's exact reason text for an unknown
// resource.
const ReasonDestinationUnreachable = "No route can be determined to reach the destination role defined by the WSAddressing To."

// FaultDetail URIs (WS-Man 1.1).
const (
	DetailInvalidValue         = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue"
	DetailMissingValues        = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/MissingValues"
	DetailInsufficientSelector = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InsufficientSelectors"
	DetailUnexpectedSelectors  = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"
)

// NewFault is the general constructor.
func NewFault(code, subcodeNS, subcode, reason string) *Fault {
	return &Fault{Code: code, SubcodeNS: subcodeNS, Subcode: subcode, Reason: reason}
}

// FaultDestinationUnreachable is what AMT answers for a class it does not
// have (captured, §3.1).
func FaultDestinationUnreachable() *Fault {
	return NewFault("Sender", NSAddressing, "DestinationUnreachable", ReasonDestinationUnreachable)
}

// FaultInvalidSelectors answers a bad or missing selector (WS-Man standard;
// not seen in a capture).
func FaultInvalidSelectors(detail string) *Fault {
	f := NewFault("Sender", NSWSMan, "InvalidSelectors", "The Selectors for the resource were not valid.")
	f.Detail = detail
	return f
}

// FaultActionNotSupported answers an action the resource does not support.
func FaultActionNotSupported() *Fault {
	return NewFault("Sender", NSAddressing, "ActionNotSupported", "The action is not supported by the service.")
}

// FaultInvalidEnumerationContext answers a Pull or Release with an unknown or
// finished context.
func FaultInvalidEnumerationContext() *Fault {
	return NewFault("Receiver", NSEnumeration, "InvalidEnumerationContext", "The supplied enumeration context is invalid.")
}

// FaultAccessDenied answers an operation the user may not perform.
func FaultAccessDenied() *Fault {
	return NewFault("Sender", NSWSMan, "AccessDenied", "The sender was not authorized to access the resource.")
}

// FaultInvalidParameter answers a method call or Put with a bad value.
func FaultInvalidParameter(detail string) *Fault {
	f := NewFault("Sender", NSWSMan, "InvalidParameter", "An operation parameter is not valid.")
	f.Detail = detail
	return f
}

// FaultInternalError reports a failure inside the service.
func FaultInternalError() *Fault {
	return NewFault("Receiver", NSWSMan, "InternalError", "The service cannot comply with the request due to internal processing errors.")
}

// The fault envelope of real AMT binds prefixes differently from its other
// responses (captured in DMT tests): c is enumeration, e is WS-Man.
const faultEnvelopeNS = ` xmlns:g="` + NSCIMBinding + `" xmlns:f="` + NSEventing + `" xmlns:e="` + NSWSMan +
	`" xmlns:d="` + NSTransfer + `" xmlns:c="` + NSEnumeration + `" xmlns:b="` + NSAddressing +
	`" xmlns:a="` + NSSoap + `" xmlns:h="` + NSTrust + `" xmlns:i="` + NSWSSE + `" xmlns:xsi="` + NSXSI + `"`

var faultPrefix = map[string]string{
	NSSoap: "a", NSAddressing: "b", NSEnumeration: "c", NSTransfer: "d", NSWSMan: "e",
	NSEventing: "f", NSCIMBinding: "g", NSTrust: "h", NSWSSE: "i",
}

// AppendFault writes f in AMT's fault envelope (no ResourceURI header).
// A subcode in a namespace the envelope does not bind gets its own
// declaration on the Value element.
func AppendFault(dst []byte, r Reply, f *Fault) []byte {
	dst = append(dst, xmlDecl+`<a:Envelope`+faultEnvelopeNS+`>`...)
	dst = appendHeader(dst, ActionFault, r, false, "b", "e")
	dst = append(dst, `<a:Body><a:Fault><a:Code><a:Value>a:`...)
	dst = appendEscaped(dst, f.Code, false)
	dst = append(dst, `</a:Value>`...)
	if f.Subcode != "" {
		if p, ok := faultPrefix[f.SubcodeNS]; ok {
			dst = append(dst, `<a:Subcode><a:Value>`+p+`:`...)
		} else {
			dst = append(dst, `<a:Subcode><a:Value xmlns:j="`...)
			dst = appendEscaped(dst, f.SubcodeNS, true)
			dst = append(dst, `">j:`...)
		}
		dst = appendEscaped(dst, f.Subcode, false)
		dst = append(dst, `</a:Value></a:Subcode>`...)
	}
	dst = append(dst, `</a:Code><a:Reason><a:Text xml:lang="en-US">`...)
	dst = appendEscaped(dst, f.Reason, false)
	dst = append(dst, `</a:Text></a:Reason><a:Detail>`...)
	if f.Detail != "" {
		dst = appendElem(dst, "e", "FaultDetail", f.Detail)
	}
	return append(dst, `</a:Detail></a:Fault></a:Body>`+envelopeEnd...)
}
