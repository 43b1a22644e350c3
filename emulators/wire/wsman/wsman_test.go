package wsman_test

import (
	"errors"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func mustReq(s string) *wsman.Request {
	r, err := wsman.ParseRequest([]byte(s), wsman.Limits{})
	Expect(err).NotTo(HaveOccurred())
	return r
}

func field(err error) string {
	var we *wireerr.Error
	Expect(errors.As(err, &we)).To(BeTrue(), "%v", err)
	Expect(we.Proto).To(Equal(wsman.Proto))
	return we.Field
}

var redirection = wsman.Instance{Class: "AMT_RedirectionService", ResourceURI: rsURI, Props: []wsman.Prop{
	wsman.S("CreationClassName", "AMT_RedirectionService"),
	wsman.S("ElementName", "Intel(r) AMT Redirection Service"),
	wsman.S("EnabledState", "32771"),
	wsman.S("ListenerEnabled", "true"),
	wsman.S("Name", "Intel(r) AMT Redirection Service"),
	wsman.S("SystemCreationClassName", "CIM_ComputerSystem"),
	wsman.S("SystemName", "Intel(r) AMT"),
}}

var _ = Describe("ParseRequest", func() {
	It("parses MeshCentral's Put by namespace", func() {
		r := mustReq(meshPut)
		Expect(r.Operation).To(Equal(wsman.OpPut))
		Expect(r.Action).To(Equal(wsman.ActionPut))
		Expect(r.To).To(Equal("/wsman"))
		Expect(r.ResourceURI).To(Equal(rsURI))
		Expect(r.MessageID).To(Equal("7"))
		Expect(r.ReplyTo).To(Equal(wsman.Anonymous))
		Expect(r.OperationTimeout).To(Equal("PT60.000S"))
		Expect(r.Selectors).To(Equal([]wsman.Selector{wsman.Sel("Name", "Intel(r) AMT Redirection Service")}))
		Expect(*r.Instance).To(Equal(redirection))
	})
	It("parses DMT's h: prefix and arbitrary prefixes identically", func() {
		mesh, dmt, other := mustReq(meshPut), mustReq(dmtPut), mustReq(otherPut)
		dmt.OperationTimeout = "PT60.000S"
		Expect(dmt).To(Equal(mesh))
		Expect(other).To(Equal(mesh))
	})
	It("parses Pull with context and limits", func() {
		r := mustReq(meshPull)
		Expect(r.Operation).To(Equal(wsman.OpPull))
		Expect(r.EnumerationContext).To(Equal("E2020000-0000-0000-0000-000000000000"))
		Expect(r.MaxElements).To(Equal(999))
		Expect(r.MaxCharacters).To(Equal(99999))
		Expect(r.MessageID).To(Equal("12"))
	})
	It("parses a method call with an inline EPR argument", func() {
		r := mustReq(dmtPower)
		Expect(r.Operation).To(Equal(wsman.OpInvoke))
		Expect(r.Method).To(Equal("RequestPowerStateChange"))
		ps, ok := r.Arg("PowerState")
		Expect(ok).To(BeTrue())
		Expect(ps.Value).To(Equal("10"))
		me, ok := r.Arg("ManagedElement")
		Expect(ok).To(BeTrue())
		Expect(me.EPR).NotTo(BeNil())
		Expect(me.EPR.ResourceURI).To(Equal("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem"))
		Expect(me.EPR.Selectors).To(Equal([]wsman.Selector{wsman.Sel("CreationClassName", "CIM_ComputerSystem"), wsman.Sel("Name", "ManagedSystem")}))
		Expect(r.Args()).To(HaveLen(2))
	})
	It("recognises every operation the builders produce, in both styles", func() {
		for _, st := range []wsman.Style{wsman.StyleMeshCentral, wsman.StyleDMT} {
			b := wsman.Builder{Style: st}
			epr := wsman.NewEPR(wsman.ResourceURI("CIM_ComputerSystem"), wsman.Sel("Name", "ManagedSystem"))
			eprSel := wsman.Selector{Name: "Ref", EPR: &epr}
			cases := []struct {
				msg []byte
				op  wsman.Operation
			}{
				{b.Get("0", gsURI), wsman.OpGet},
				{b.Delete("1", gsURI, wsman.Sel("InstanceID", "x")), wsman.OpDelete},
				{b.Enumerate("2", gsURI), wsman.OpEnumerate},
				{b.Pull("3", gsURI, "ctx", 999, 99999), wsman.OpPull},
				{b.Release("4", gsURI, "ctx"), wsman.OpRelease},
				{b.Put("5", &redirection, wsman.Sel("Name", "n")), wsman.OpPut},
				{b.Create("6", &redirection), wsman.OpCreate},
				{b.Invoke("7", pmsURI, "RequestPowerStateChange", []wsman.Prop{wsman.S("PowerState", "8"), wsman.R("ManagedElement", epr)}, eprSel), wsman.OpInvoke},
			}
			for k, c := range cases {
				r, err := wsman.ParseRequest(c.msg, wsman.Limits{})
				Expect(err).NotTo(HaveOccurred(), string(c.msg))
				Expect(r.Operation).To(Equal(c.op))
				Expect(r.MessageID).To(Equal(string(rune('0' + k))))
				switch c.op {
				case wsman.OpPut, wsman.OpCreate:
					Expect(*r.Instance).To(Equal(redirection))
				case wsman.OpPull:
					Expect(r.EnumerationContext).To(Equal("ctx"))
					Expect(r.MaxElements).To(Equal(999))
				case wsman.OpRelease:
					Expect(r.EnumerationContext).To(Equal("ctx"))
				case wsman.OpInvoke:
					me, _ := r.Arg("ManagedElement")
					Expect(*me.EPR).To(Equal(epr))
					Expect(r.Selectors[0].EPR).To(Equal(&epr))
				case wsman.OpDelete:
					v, ok := r.Selector("InstanceID")
					Expect(ok).To(BeTrue())
					Expect(v).To(Equal("x"))
				}
			}
		}
	})
	It("matches MeshCentral's Get byte for byte", func() {
		got := string(wsman.Builder{}.Get("0", gsURI))
		Expect(got).To(Equal(`<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>0</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60.000S</w:OperationTimeout></Header><Body></Body></Envelope>`))
		Expect(string(wsman.Builder{}.Put("7", &redirection, wsman.Sel("Name", "Intel(r) AMT Redirection Service")))).To(Equal(meshPut))
		Expect(string(wsman.Builder{Style: wsman.StyleDMT}.Put("7", &redirection, wsman.Sel("Name", "Intel(r) AMT Redirection Service")))).To(Equal(dmtPut))
	})
	It("recognises Subscribe and Unsubscribe", func() {
		for _, a := range []string{"Subscribe", "Unsubscribe"} {
			in := strings.Replace(meshPull, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull<", "http://schemas.xmlsoap.org/ws/2004/08/eventing/"+a+"<", 1)
			r := mustReq(in)
			Expect(r.Operation.String()).To(Equal(a))
		}
	})
	It("keeps MessageID text exactly", func() {
		r := mustReq(strings.Replace(meshPull, "<a:MessageID>12<", "<a:MessageID> uuid:x&amp;y <", 1))
		Expect(r.MessageID).To(Equal(" uuid:x&y "))
	})
	DescribeTable("rejects malformed requests with a located error",
		func(in string, lim wsman.Limits, fld string) {
			_, err := wsman.ParseRequest([]byte(in), lim)
			Expect(err).To(HaveOccurred())
			Expect(field(err)).To(Equal(fld))
		},
		Entry("not XML", "hello", wsman.Limits{}, "XML"),
		Entry("empty", "", wsman.Limits{}, "XML"),
		Entry("unclosed", meshPull[:200], wsman.Limits{}, "XML"),
		Entry("mismatched tag", `<Envelope xmlns="`+soapNS+`"><Header></Body></Envelope>`, wsman.Limits{}, "XML"),
		Entry("wrong root", `<Envelope><Header/><Body/></Envelope>`, wsman.Limits{}, "Envelope"),
		Entry("no body", `<Envelope xmlns="`+soapNS+`"><Header/></Envelope>`, wsman.Limits{}, "Body"),
		Entry("no header", `<Envelope xmlns="`+soapNS+`"><Body/></Envelope>`, wsman.Limits{}, "Header"),
		Entry("no action", `<Envelope xmlns="`+soapNS+`"><Header/><Body/></Envelope>`, wsman.Limits{}, "Action"),
		Entry("action by prefix only", `<Envelope xmlns="`+soapNS+`" xmlns:a="urn:other"><Header><a:Action>x</a:Action></Header><Body/></Envelope>`, wsman.Limits{}, "Action"),
		Entry("pull without context", strings.Replace(meshPull, "EnumerationContext>", "Context>", 2), wsman.Limits{}, "EnumerationContext"),
		Entry("bad MaxElements", strings.Replace(meshPull, ">999<", ">-1<", 1), wsman.Limits{}, "MaxElements"),
		Entry("method body mismatch", strings.Replace(dmtPower, "RequestPowerStateChange_INPUT", "Other_INPUT", 2), wsman.Limits{}, "Body"),
		Entry("put without instance", strings.Replace(meshPut, meshPut[strings.Index(meshPut, "<Body>"):], "<Body></Body></Envelope>", 1), wsman.Limits{}, "Body"),
		Entry("DTD", `<!DOCTYPE x [<!ENTITY a "b">]><Envelope xmlns="`+soapNS+`"/>`, wsman.Limits{}, "XML"),
		Entry("trailing root", meshPull+"<x/>", wsman.Limits{}, "x"),
		Entry("trailing text", meshPull+"junk", wsman.Limits{}, "XML"),
		Entry("too big", meshPull, wsman.Limits{MaxBytes: 100}, "document"),
		Entry("too deep", strings.Repeat("<a>", 40)+strings.Repeat("</a>", 40), wsman.Limits{}, "a"),
		Entry("too many elements", meshPull, wsman.Limits{MaxElements: 5}, "elements"),
	)
})

var _ = Describe("response writer (AMT style, §3.1)", func() {
	gs := wsman.Instance{Class: "AMT_GeneralSettings", ResourceURI: gsURI, Props: []wsman.Prop{
		wsman.S("AMTNetworkEnabled", "1"),
		wsman.S("DigestRealm", "Digest:0123456789ABCDEF0123456789ABCDEF"),
		wsman.S("ElementName", "Intel(r) AMT: General Settings"),
		wsman.S("HostName", "vmc1"),
		wsman.S("InstanceID", "Intel(r) AMT: General Settings"),
		wsman.S("NetworkInterfaceEnabled", "true"),
	}}
	apms := wsman.Instance{Class: "CIM_AssociatedPowerManagementService", ResourceURI: wsman.ResourceURI("CIM_AssociatedPowerManagementService"), Props: []wsman.Prop{
		wsman.L("AvailableRequestedPowerStates", "2", "5", "8"),
		wsman.S("PowerState", "2"),
		wsman.R("ServiceProvided", wsman.NewEPR(pmsURI, wsman.Sel("CreationClassName", "CIM_PowerManagementService"), wsman.Sel("Name", "Intel(r) AMT Power Management Service"))),
		wsman.R("UserOfService", wsman.NewEPR(wsman.ResourceURI("CIM_ComputerSystem"), wsman.Sel("CreationClassName", "CIM_ComputerSystem"), wsman.Sel("Name", "ManagedSystem"))),
	}}
	saeURI := wsman.ResourceURI("CIM_ServiceAvailableToElement")
	tsURI := wsman.ResourceURI("AMT_TimeSynchronizationService")

	It("writes Get exactly", func() {
		var ids wsman.MessageIDs
		got := wsman.AppendGetResponse(nil, wsman.Reply{RelatesTo: "0", MessageID: ids.Next(), ResourceURI: gsURI}, &gs)
		Expect(string(got)).To(Equal(amtGet))
	})
	It("writes Enumerate exactly", func() {
		got := wsman.AppendEnumerateResponse(nil, wsman.Reply{RelatesTo: "11", MessageID: wsman.FormatMessageID(10), ResourceURI: saeURI}, wsman.FormatEnumerationContext(0xE2020000))
		Expect(string(got)).To(Equal(amtEnum))
	})
	It("writes a final Pull exactly: Items, EndOfSequence, no context", func() {
		got := wsman.AppendPullResponse(nil, wsman.Reply{RelatesTo: "12", MessageID: wsman.FormatMessageID(11), ResourceURI: saeURI}, []wsman.Instance{apms}, "", true)
		Expect(string(got)).To(Equal(amtPull))
	})
	It("writes the method output exactly", func() {
		got := wsman.AppendMethodResponse(nil, wsman.Reply{RelatesTo: "4", MessageID: wsman.FormatMessageID(5), ResourceURI: tsURI}, "GetLowAccuracyTimeSynch", 0, wsman.S("Ta0", "1764882000"))
		Expect(string(got)).To(Equal(amtMethod))
	})
	It("writes AMT's DestinationUnreachable fault exactly", func() {
		got := wsman.AppendFault(nil, wsman.Reply{RelatesTo: "0", MessageID: wsman.FormatMessageID(0x61), ResourceURI: gsURI}, wsman.FaultDestinationUnreachable())
		Expect(string(got)).To(Equal(amtFault))
		Expect(wsman.FaultDestinationUnreachable().HTTPStatus()).To(Equal(400))
	})
	It("writes InvalidSelectors in the WS-Man namespace with a detail", func() {
		got := string(wsman.AppendFault(nil, wsman.Reply{RelatesTo: "1"}, wsman.FaultInvalidSelectors(wsman.DetailInsufficientSelector)))
		Expect(got).To(ContainSubstring(`<a:Subcode><a:Value>e:InvalidSelectors</a:Value></a:Subcode>`))
		Expect(got).To(ContainSubstring(`<a:Detail><e:FaultDetail>` + wsman.DetailInsufficientSelector + `</e:FaultDetail></a:Detail>`))
		_, err := wsman.ParseResponse([]byte(got), wsman.Limits{})
		var f *wsman.Fault
		Expect(errors.As(err, &f)).To(BeTrue())
		Expect(*f).To(Equal(*wsman.FaultInvalidSelectors(wsman.DetailInsufficientSelector)))
	})
	It("writes a Pull that is not finished with the context first and no EndOfSequence", func() {
		got := string(wsman.AppendPullResponse(nil, wsman.Reply{RelatesTo: "1", ResourceURI: gsURI}, []wsman.Instance{gs}, "ctx-1", false))
		Expect(got).To(ContainSubstring(`<g:PullResponse><g:EnumerationContext>ctx-1</g:EnumerationContext><g:Items><h:AMT_GeneralSettings>`))
		Expect(got).NotTo(ContainSubstring("EndOfSequence"))
	})
	It("counts message ids in 12 upper-case hex digits", func() {
		var ids wsman.MessageIDs
		ids.Next()
		Expect(ids.Next()).To(Equal("uuid:00000000-8086-8086-8086-000000000002"))
		Expect(wsman.FormatMessageID(0xABCDEF012345)).To(Equal("uuid:00000000-8086-8086-8086-ABCDEF012345"))
	})
	It("escapes text and never breaks MeshCentral's naive parser", func() {
		odd := wsman.Instance{Class: "AMT_GeneralSettings", ResourceURI: gsURI, Props: []wsman.Prop{
			wsman.S("HostName", `a<b>&"c" d`), wsman.N("Nested", wsman.S("X", "1"), wsman.L("Y", "2", "3")), {Name: "Nothing", Nil: true},
		}}
		outs := [][]byte{
			wsman.AppendGetResponse(nil, wsman.Reply{RelatesTo: "1", ResourceURI: gsURI}, &odd),
			wsman.AppendPullResponse(nil, wsman.Reply{RelatesTo: "1", ResourceURI: saeURI}, []wsman.Instance{apms, gs}, "", true),
			wsman.AppendFault(nil, wsman.Reply{RelatesTo: "1"}, wsman.FaultInternalError()),
			wsman.AppendCreateResponse(nil, wsman.Reply{RelatesTo: "1"}, wsman.NewEPR(gsURI, wsman.Sel("InstanceID", "x"))),
			wsman.AppendDeleteResponse(nil, wsman.Reply{RelatesTo: "1"}),
			wsman.AppendReleaseResponse(nil, wsman.Reply{RelatesTo: "1"}),
			wsman.AppendPutResponse(nil, wsman.Reply{RelatesTo: "1"}, &gs),
		}
		attr := regexp.MustCompile(`="([^"]*)"`)
		for _, o := range outs {
			s := string(o)
			Expect(s).NotTo(ContainSubstring("\n"))
			Expect(s).NotTo(ContainSubstring("/>"))
			for _, m := range attr.FindAllStringSubmatch(s, -1) {
				Expect(m[1]).NotTo(ContainSubstring(" "), s)
				Expect(m[1]).NotTo(ContainSubstring(">"), s)
			}
			Expect(strings.Count(s, "<a:Body>")).To(Equal(1))
			_, err := wsman.ParseResponse(o, wsman.Limits{})
			var f *wsman.Fault
			if err != nil {
				Expect(errors.As(err, &f)).To(BeTrue(), "%v", err)
			}
		}
		r, err := wsman.ParseResponse(outs[0], wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*r.Instance).To(Equal(odd))
	})
})

var _ = Describe("ParseResponse (client side)", func() {
	It("returns the Get instance and header", func() {
		r, err := wsman.ParseResponse([]byte(amtGet), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.RelatesTo).To(Equal("0"))
		Expect(r.Action).To(Equal(wsman.ActionGet + "Response"))
		Expect(r.MessageID).To(Equal("uuid:00000000-8086-8086-8086-000000000001"))
		Expect(r.ResourceURI).To(Equal(gsURI))
		Expect(r.Instance.Class).To(Equal("AMT_GeneralSettings"))
		Expect(r.Instance.Get("DigestRealm")).To(Equal("Digest:0123456789ABCDEF0123456789ABCDEF"))
	})
	It("returns the enumeration context", func() {
		r, err := wsman.ParseResponse([]byte(amtEnum), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.EnumerationContext).To(Equal("E2020000-0000-0000-0000-000000000000"))
	})
	It("returns Pull items with lists and EPRs, and EndOfSequence", func() {
		r, err := wsman.ParseResponse([]byte(amtPull), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.EndOfSequence).To(BeTrue())
		Expect(r.EnumerationContext).To(BeEmpty())
		Expect(r.Items).To(HaveLen(1))
		it := r.Items[0]
		Expect(it.Class).To(Equal("CIM_AssociatedPowerManagementService"))
		Expect(it.Get("PowerState")).To(Equal("2"))
		p, _ := it.Prop("AvailableRequestedPowerStates")
		Expect(p.All()).To(Equal([]string{"2", "5", "8"}))
		sp, _ := it.Prop("ServiceProvided")
		v, ok := sp.EPR.Selector("Name")
		Expect(ok).To(BeTrue())
		Expect(v).To(Equal("Intel(r) AMT Power Management Service"))
	})
	It("returns method output values", func() {
		r, err := wsman.ParseResponse([]byte(amtMethod), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Method).To(Equal("GetLowAccuracyTimeSynch"))
		Expect(r.ReturnValue).To(Equal("0"))
		Expect(r.Output.Get("Ta0")).To(Equal("1764882000"))
	})
	It("returns a fault as a Go error", func() {
		r, err := wsman.ParseResponse([]byte(amtFault), wsman.Limits{})
		var f *wsman.Fault
		Expect(errors.As(err, &f)).To(BeTrue())
		Expect(*f).To(Equal(*wsman.FaultDestinationUnreachable()))
		Expect(r.RelatesTo).To(Equal("0"))
		Expect(err.Error()).To(ContainSubstring("DestinationUnreachable"))
	})
	It("round-trips every writer through the parser", func() {
		rep := wsman.Reply{RelatesTo: "9", MessageID: wsman.FormatMessageID(1), ResourceURI: rsURI}
		r, err := wsman.ParseResponse(wsman.AppendPutResponse(nil, rep, &redirection), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*r.Instance).To(Equal(redirection))
		epr := wsman.NewEPR(rsURI, wsman.Sel("InstanceID", "k"))
		r, err = wsman.ParseResponse(wsman.AppendCreateResponse(nil, rep, epr), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(*r.Created).To(Equal(epr))
		r, err = wsman.ParseResponse(wsman.AppendPullResponse(nil, rep, []wsman.Instance{redirection, redirection}, "c2", false), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Items).To(Equal([]wsman.Instance{redirection, redirection}))
		Expect(r.EnumerationContext).To(Equal("c2"))
		Expect(r.EndOfSequence).To(BeFalse())
		r, err = wsman.ParseResponse(wsman.AppendDeleteResponse(nil, rep), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Instance).To(BeNil())
		f := wsman.NewFault("Sender", "urn:custom", "Oops", "custom")
		_, err = wsman.ParseResponse(wsman.AppendFault(nil, rep, f), wsman.Limits{})
		var got *wsman.Fault
		Expect(errors.As(err, &got)).To(BeTrue())
		Expect(*got).To(Equal(*f))
	})
	It("rejects a body with two elements", func() {
		bad := strings.Replace(amtGet, "</a:Body>", "<x/></a:Body>", 1)
		_, err := wsman.ParseResponse([]byte(bad), wsman.Limits{})
		Expect(field(err)).To(Equal("Body"))
	})
})

var _ = Describe("names", func() {
	It("maps classes to resource URIs and back", func() {
		Expect(wsman.ResourceURI("AMT_GeneralSettings")).To(Equal(gsURI))
		Expect(wsman.ResourceURI("CIM_PowerManagementService")).To(Equal(pmsURI))
		Expect(wsman.ResourceURI("IPS_OptInService")).To(Equal("http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService"))
		Expect(wsman.ResourceURI("Foo")).To(BeEmpty())
		Expect(wsman.ClassName(gsURI)).To(Equal("AMT_GeneralSettings"))
		Expect(wsman.ClassName("http://example.com/x")).To(BeEmpty())
	})
	It("maps actions to operations", func() {
		op, m := wsman.ParseAction(rsURI+"/RequestStateChange", rsURI)
		Expect(op).To(Equal(wsman.OpInvoke))
		Expect(m).To(Equal("RequestStateChange"))
		op, _ = wsman.ParseAction(gsURI+"/X", rsURI)
		Expect(op).To(Equal(wsman.OpUnknown))
		op, _ = wsman.ParseAction("nonsense", "")
		Expect(op).To(Equal(wsman.OpUnknown))
		Expect(wsman.OpGet.Action()).To(Equal(wsman.ActionGet))
		Expect(wsman.OpInvoke.Action()).To(BeEmpty())
	})
})
