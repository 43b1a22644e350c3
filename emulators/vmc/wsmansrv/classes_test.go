package wsmansrv_test

import (
	"crypto/x509"
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/vmc/wsmansrv"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func ids(items []wsman.Instance, prop string) []string {
	var out []string
	for i := range items {
		out = append(out, items[i].Get(prop))
	}
	return out
}

func sel(e *wsman.EPR, name string) string {
	GinkgoHelper()
	Expect(e).NotTo(BeNil())
	v, ok := e.Selector(name)
	Expect(ok).To(BeTrue(), "selector "+name)
	return v
}

// managedSystem is the ManagedElement EPR both servers send with a power
// action.
func managedSystem(name string) wsman.Prop {
	return wsman.R("ManagedElement", wsman.EPR{Address: "http://schemas.xmlsoap.org/ws/2004/08/addressing",
		ResourceURI: wsman.ResourceURI("CIM_ComputerSystem"),
		Selectors:   []wsman.Selector{wsman.Sel("CreationClassName", "CIM_ComputerSystem"), wsman.Sel("Name", name)}})
}

var _ = Describe("classes", func() {
	var (
		e *env
		s *session
	)
	BeforeEach(func() {
		e = newEnv(nil)
		s = e.login(true)
	})
	AfterEach(func() { e.close() })

	Describe("DMT MPS's REST sequences (§3.3)", func() {
		It("GET /amt/version: Enumerate + Pull CIM_SoftwareIdentity, Get AMT_SetupAndConfigurationService", func() {
			items, pulls := s.enumerate("CIM_SoftwareIdentity", 999)
			Expect(pulls).To(Equal(1))
			Expect(ids(items, "InstanceID")).To(Equal([]string{"Flash", "Netstack", "AMTApps", "AMT", "Sku", "VendorID",
				"Build Number", "Recovery Version", "Recovery Build Num", "Legacy Mode", "AMT FW Core Version"}))
			Expect(items[3].Get("VersionString")).To(Equal("16.1.27"))
			Expect(items[6].Get("VersionString")).To(Equal("2225"))
			for _, in := range items {
				Expect(in.Get("IsEntity")).To(Equal("true"))
			}
			// MaxElements is honoured: 11 items in pulls of 4.
			items, pulls = s.enumerate("CIM_SoftwareIdentity", 4)
			Expect(pulls).To(Equal(3))
			Expect(items).To(HaveLen(11))
			sc := s.get("AMT_SetupAndConfigurationService")
			Expect(sc.Get("ProvisioningMode")).To(Equal("1"))
			Expect(sc.Get("ProvisioningState")).To(Equal("2"))
		})

		It("GET /amt/features: redirection, opt-in, KVM and the OCR boot data", func() {
			rs := s.get("AMT_RedirectionService")
			Expect(rs.Get("EnabledState")).To(Equal("32771"))
			Expect(rs.Get("ListenerEnabled")).To(Equal("true"))
			Expect(s.get("IPS_OptInService").Get("OptInRequired")).To(Equal("0"))
			Expect(s.get("CIM_KVMRedirectionSAP").Get("EnabledState")).To(Equal("6"), "enabled, no session")
			Expect(s.get("CIM_BootService").Get("Name")).To(Equal("Intel(r) AMT Boot Service"))
			items, _ := s.enumerate("CIM_BootSourceSetting", 999)
			Expect(ids(items, "InstanceID")).To(Equal([]string{"Intel(r) AMT: Force Hard-drive Boot",
				"Intel(r) AMT: Force PXE Boot", "Intel(r) AMT: Force CD/DVD Boot"}))
			Expect(s.get("AMT_BootCapabilities").Get("SOL")).To(Equal("true"))
			Expect(s.get("AMT_BootSettingData").Get("UseSOL")).To(Equal("false"))
		})

		It("GET /amt/hardwareInfo: the inventory classes with a PlatformGUID and a CIM_Card", func() {
			csp := s.get("CIM_ComputerSystemPackage")
			Expect(csp.Get("PlatformGUID")).To(Equal("78563412BC9AF0DE1122334455667788"))
			Expect(csp.Get("PlatformGUID")).To(Equal(wsmansrv.PlatformGUID(tUUID)))
			Expect(s.get("CIM_Chassis").Get("SerialNumber")).To(Equal("OOB12345678"))
			Expect(s.get("CIM_Card").Get("Manufacturer")).To(Equal("oobtb"))
			Expect(s.get("CIM_BIOSElement").Get("Version")).To(Equal("OOBTB.1.0"))
			for _, c := range []string{"CIM_SystemPackaging", "CIM_Chip", "CIM_Processor", "CIM_MediaAccessDevice", "CIM_PhysicalPackage"} {
				items, _ := s.enumerate(c, 999)
				Expect(items).NotTo(BeEmpty(), c)
			}
			mem, _ := s.enumerate("CIM_PhysicalMemory", 999)
			total := uint64(0)
			for _, m := range mem {
				v, err := strconv.ParseUint(m.Get("Capacity"), 10, 64)
				Expect(err).NotTo(HaveOccurred())
				total += v
			}
			Expect(total).To(Equal(uint64(16384) << 20))
		})

		It("POST /amt/power/action then GET /amt/power/state: the state reflects the action", func() {
			Expect(s.get("IPS_PowerManagementService").Get("OSPowerSavingState")).To(Equal("2"))
			items, _ := s.enumerate("CIM_ServiceAvailableToElement", 999)
			Expect(items).To(HaveLen(1), "DMT MPS reads PowerState only from a single item")
			Expect(items[0].Class).To(Equal("CIM_AssociatedPowerManagementService"))
			Expect(items[0].Get("PowerState")).To(Equal("2"))
			avail, _ := items[0].Prop("AvailableRequestedPowerStates")
			Expect(avail.All()).To(ContainElements("2", "5", "8", "10"))

			_, w := s.invoke("CIM_PowerManagementService", "RequestPowerStateChange",
				wsman.S("PowerState", "8"), managedSystem("ManagedSystem"))
			Expect(w.Fault).To(BeNil())
			Expect(w.ReturnValue).To(Equal("0"))
			Expect(e.host.PowerReport().PowerState).To(Equal(power.OffSoft))

			items, _ = s.enumerate("CIM_ServiceAvailableToElement", 999)
			Expect(items).To(HaveLen(1))
			Expect(items[0].Get("PowerState")).To(Equal("8"))
			Expect(items[0].Get("PowerState")).To(Equal(strconv.Itoa(int(e.host.PowerReport().PowerState))))
			Expect(s.get("IPS_PowerManagementService").Get("OSPowerSavingState")).To(Equal(strconv.Itoa(int(e.host.PowerReport().OSPowerSavingState))))

			// Sleep is not available while off: the host's return value.
			_, w = s.invoke("CIM_PowerManagementService", "RequestPowerStateChange",
				wsman.S("PowerState", "4"), managedSystem("ManagedSystem"))
			Expect(w.ReturnValue).To(Equal(strconv.Itoa(int(power.ReturnFailed))))
			// A ManagedElement that is not the host, or none, is a fault.
			r, w := s.invoke("CIM_PowerManagementService", "RequestPowerStateChange",
				wsman.S("PowerState", "2"), managedSystem("Other"))
			Expect(r.StatusCode).To(Equal(400))
			Expect(w.Fault.Reason).To(ContainSubstring("ManagedSystem"))
			_, w = s.invoke("CIM_PowerManagementService", "RequestPowerStateChange", wsman.S("PowerState", "2"))
			Expect(w.Fault.Reason).To(ContainSubstring("ManagedElement"))
			_, w = s.invoke("CIM_PowerManagementService", "RequestPowerStateChange", wsman.S("PowerState", "on"), managedSystem("ManagedSystem"))
			Expect(w.Fault.Reason).To(ContainSubstring(`PowerState must be an unsigned 16-bit integer, got "on"`))
		})

		It("KVM screen settings: Enumerate/Pull IPS_ScreenSettingData, Get IPS_KVMRedirectionSettingData", func() {
			items, _ := s.enumerate("IPS_ScreenSettingData", 999)
			Expect(items).To(HaveLen(1))
			x, _ := items[0].Prop("ResolutionX")
			Expect(x.All()[0]).To(Equal("320"))
			Expect(s.get("IPS_KVMRedirectionSettingData").Get("RFBPassword")).To(BeEmpty())
		})
	})

	Describe("values consistent with the device", func() {
		It("reports the host's real address in AMT_EthernetPortSettings and follows changes", func() {
			items, _ := s.enumerate("AMT_EthernetPortSettings", 999)
			Expect(items).To(HaveLen(1))
			in := items[0]
			Expect(in.Get("MACAddress")).To(Equal("02-aa-bb-cc-dd-01"))
			Expect(in.Get("IPAddress")).To(Equal("198.18.1.23"))
			Expect(in.Get("SubnetMask")).To(Equal("255.255.255.0"))
			Expect(in.Get("DefaultGateway")).To(Equal("198.18.1.1"))
			Expect(in.Get("DHCPEnabled")).To(Equal("true"))
			Expect(in.Get("LinkIsUp")).To(Equal("true"))
			e.host.SetAddress(netip.MustParsePrefix("10.1.2.3/16"), netip.MustParseAddr("10.1.0.1"), "", false)
			items, _ = s.enumerate("AMT_EthernetPortSettings", 999)
			Expect(items[0].Get("IPAddress")).To(Equal("10.1.2.3"))
			Expect(items[0].Get("SubnetMask")).To(Equal("255.255.0.0"))
			Expect(items[0].Get("DHCPEnabled")).To(Equal("false"))
		})

		It("reports KVM as 2 with a session, 6 without, 3 when disabled, and RequestStateChange switches it", func() {
			release, err := e.host.AcquireKVM("test console")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.get("CIM_KVMRedirectionSAP").Get("EnabledState")).To(Equal("2"))
			release()
			Expect(s.get("CIM_KVMRedirectionSAP").Get("EnabledState")).To(Equal("6"))
			_, w := s.invoke("CIM_KVMRedirectionSAP", "RequestStateChange", wsman.S("RequestedState", "3"))
			Expect(w.ReturnValue).To(Equal("0"))
			Expect(e.host.Settings().KVMEnabled).To(BeFalse())
			Expect(s.get("CIM_KVMRedirectionSAP").Get("EnabledState")).To(Equal("3"))
			_, w = s.invoke("CIM_KVMRedirectionSAP", "RequestStateChange", wsman.S("RequestedState", "2"))
			Expect(w.ReturnValue).To(Equal("0"))
			Expect(s.get("CIM_KVMRedirectionSAP").Get("EnabledState")).To(Equal("6"))
			_, w = s.invoke("CIM_KVMRedirectionSAP", "RequestStateChange", wsman.S("RequestedState", "9"))
			Expect(w.ReturnValue).To(Equal("5"))
		})

		It("applies MeshCentral's settings step: opt-in Put, redirection RequestStateChange and Put", func() {
			oi := s.get("IPS_OptInService")
			oi.Set(wsman.S("OptInRequired", "4294967295"))
			r, w := s.put(oi, wsman.Sel("Name", "Intel(r) AMT OptIn Service"))
			Expect(r.StatusCode).To(Equal(200), string(r.Body))
			Expect(w.Instance.Get("OptInRequired")).To(Equal("4294967295"))
			Expect(e.host.Settings().OptInRequired).To(Equal(uint32(0xFFFFFFFF)))
			oi.Set(wsman.S("OptInRequired", "7"))
			r, w = s.put(oi)
			Expect(r.StatusCode).To(Equal(400))
			Expect(w.Fault.Reason).To(ContainSubstring("OptInRequired must be 0 (none), 1 (KVM) or 4294967295 (all), got 7"))

			_, w = s.invoke("AMT_RedirectionService", "RequestStateChange", wsman.S("RequestedState", "32770"))
			Expect(w.ReturnValue).To(Equal("0"))
			Expect(e.host.Settings().RedirectionState).To(Equal(uint32(32770)))
			_, w = s.invoke("AMT_RedirectionService", "RequestStateChange", wsman.S("RequestedState", "7"))
			Expect(w.ReturnValue).To(Equal("5"))
			rs := s.get("AMT_RedirectionService")
			rs.Set(wsman.S("ListenerEnabled", "false"))
			r, w = s.put(rs, wsman.Sel("Name", "Intel(r) AMT Redirection Service"))
			Expect(r.StatusCode).To(Equal(200), string(r.Body))
			Expect(w.Instance.Get("ListenerEnabled")).To(Equal("false"))
			Expect(e.host.Settings().ListenerEnabled).To(BeFalse())
		})

		It("writes IPS_KVMRedirectionSettingData with a write-only RFBPassword", func() {
			ks := s.get("IPS_KVMRedirectionSettingData")
			ks.Set(wsman.S("Is5900PortEnabled", "true"))
			ks.Set(wsman.S("RFBPassword", "Vnc#2026"))
			r, w := s.put(ks)
			Expect(r.StatusCode).To(Equal(200), string(r.Body))
			Expect(w.Instance.Get("Is5900PortEnabled")).To(Equal("true"))
			Expect(w.Instance.Get("RFBPassword")).To(BeEmpty())
			Expect(e.host.Settings().Is5900PortEnabled).To(BeTrue())
			Expect(e.host.Settings().RFBPassword).To(Equal("Vnc#2026"))
			ks.Set(wsman.S("RFBPassword", "short"))
			r, w = s.put(ks)
			Expect(r.StatusCode).To(Equal(400))
			Expect(w.Fault.Reason).To(ContainSubstring("RFBPassword must be exactly 8 characters, got 5"))
			Expect(e.host.Settings().RFBPassword).To(Equal("Vnc#2026"))
		})

		It("keeps time from the injected clock and applies SetHighAccuracyTimeSynch as an offset", func() {
			ta0 := func() int64 {
				_, w := s.invoke("AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch")
				Expect(w.ReturnValue).To(Equal("0"))
				v, err := strconv.ParseInt(w.Output.Get("Ta0"), 10, 64)
				Expect(err).NotTo(HaveOccurred())
				return v
			}
			Expect(ta0()).To(Equal(t0.Unix()))
			e.clk.Advance(10 * time.Second)
			Expect(ta0()).To(Equal(t0.Unix() + 10))
			tm := t0.Unix() + 3600
			_, w := s.invoke("AMT_TimeSynchronizationService", "SetHighAccuracyTimeSynch",
				wsman.S("Ta0", strconv.FormatInt(t0.Unix()+10, 10)), wsman.S("Tm1", strconv.FormatInt(tm, 10)), wsman.S("Tm2", strconv.FormatInt(tm, 10)))
			Expect(w.ReturnValue).To(Equal("0"))
			Expect(ta0()).To(Equal(tm))
			e.clk.Advance(5 * time.Second)
			Expect(ta0()).To(Equal(tm + 5))
			r, w := s.invoke("AMT_TimeSynchronizationService", "SetHighAccuracyTimeSynch", wsman.S("Ta0", "1"))
			Expect(r.StatusCode).To(Equal(400))
			Expect(w.Fault.Reason).To(ContainSubstring("Tm1 is missing"))
		})

		It("remembers AMT_BootSettingData as written", func() {
			bs := s.get("AMT_BootSettingData")
			bs.Set(wsman.S("UseSOL", "true"))
			bs.Set(wsman.S("BIOSSetup", "true"))
			r, _ := s.put(bs)
			Expect(r.StatusCode).To(Equal(200))
			got := s.get("AMT_BootSettingData")
			Expect(got.Get("UseSOL")).To(Equal("true"))
			Expect(got.Get("BIOSSetup")).To(Equal("true"))
			Expect(got.Get("InstanceID")).To(Equal("Intel(r) AMT:BootSettingData 0"))
			bs.Set(wsman.S("UseIDER", "maybe"))
			r, _ = s.put(bs)
			Expect(r.StatusCode).To(Equal(400))
		})

		It("shows TLS as set up: the credential context references the certificate", func() {
			certs, _ := s.enumerate("AMT_PublicKeyCertificate", 999)
			Expect(certs).To(HaveLen(1))
			der, err := base64.StdEncoding.DecodeString(certs[0].Get("X509Certificate"))
			Expect(err).NotTo(HaveOccurred())
			cert, err := x509.ParseCertificate(der)
			Expect(err).NotTo(HaveOccurred())
			Expect(cert.Subject.CommonName).To(Equal("vmc1"))
			keys, _ := s.enumerate("AMT_PublicPrivateKeyPair", 999)
			Expect(keys).To(HaveLen(1))
			pub, err := base64.StdEncoding.DecodeString(keys[0].Get("DERKey"))
			Expect(err).NotTo(HaveOccurred())
			_, err = x509.ParsePKCS1PublicKey(pub)
			Expect(err).NotTo(HaveOccurred())
			settings, _ := s.enumerate("AMT_TLSSettingData", 999)
			Expect(settings).To(HaveLen(2))
			ctxs, _ := s.enumerate("AMT_TLSCredentialContext", 999)
			Expect(ctxs).To(HaveLen(1))
			el, ok := ctxs[0].Prop("ElementInContext")
			Expect(ok).To(BeTrue())
			Expect(el.EPR).NotTo(BeNil())
			id, _ := el.EPR.Selector("InstanceID")
			Expect(id).To(Equal(certs[0].Get("InstanceID")))
		})
	})

	Describe("enumeration contexts", func() {
		It("releases a context, refuses it afterwards, and expires unused ones", func() {
			c := e.dial()
			uri := wsman.ResourceURI("CIM_SoftwareIdentity")
			_, w := c.exchange(s.auth(), dmt.Enumerate("1", uri))
			ctx := w.EnumerationContext
			r, _ := c.exchange(s.auth(), dmt.Release("2", uri, ctx))
			Expect(r.StatusCode).To(Equal(200))
			_, w = c.exchange(s.auth(), dmt.Pull("3", uri, ctx, 999, 99999))
			Expect(w.Fault.Subcode).To(Equal("InvalidEnumerationContext"))
			_, w = c.exchange(s.auth(), dmt.Enumerate("4", uri))
			ctx = w.EnumerationContext
			_, w = c.exchange(s.auth(), dmt.Pull("5", wsman.ResourceURI("CIM_Chip"), ctx, 999, 99999))
			Expect(w.Fault.Subcode).To(Equal("InvalidEnumerationContext"), "a context belongs to its class")
			e.clk.Advance(wsmansrv.DefaultEnumerationLifetime + time.Second)
			_, w = c.exchange(s.auth(), dmt.Pull("6", uri, ctx, 999, 99999))
			Expect(w.Fault).NotTo(BeNil())
			Expect(w.Fault.Subcode).To(Equal("InvalidEnumerationContext"))
			Expect(c.hangUp()).To(Succeed())
		})

		It("keeps at most MaxEnumerations open, dropping the oldest", func() {
			e2 := newEnv(func(o *wsmansrv.Options) { o.MaxEnumerations = 3 })
			defer e2.close()
			s2 := e2.login(true)
			c := e2.dial()
			uri := wsman.ResourceURI("CIM_BootSourceSetting")
			var ctxs []string
			for i := 0; i < 4; i++ {
				_, w := c.exchange(s2.auth(), dmt.Enumerate(strconv.Itoa(i), uri))
				ctxs = append(ctxs, w.EnumerationContext)
			}
			_, w := c.exchange(s2.auth(), dmt.Pull("9", uri, ctxs[0], 999, 99999))
			Expect(w.Fault.Subcode).To(Equal("InvalidEnumerationContext"))
			_, w = c.exchange(s2.auth(), dmt.Pull("10", uri, ctxs[3], 999, 99999))
			Expect(w.Items).To(HaveLen(3))
			Expect(c.hangUp()).To(Succeed())
		})
	})
})

var _ = Describe("remote-access classes (§4.1)", func() {
	var (
		e *env
		s *session
	)
	BeforeEach(func() {
		e = newEnv(nil)
		s = e.login(true)
	})
	AfterEach(func() { e.close() })

	It("exposes the policy configuration", func() {
		mps, _ := s.enumerate("AMT_ManagementPresenceRemoteSAP", 999)
		Expect(mps).To(HaveLen(1))
		Expect(mps[0].Get("AccessInfo")).To(Equal("mps.example.com"))
		Expect(mps[0].Get("InfoFormat")).To(Equal("201"))
		Expect(mps[0].Get("Port")).To(Equal("4433"))
		Expect(mps[0].Get("Name")).To(Equal(policy.MPSName(1)))
		rules, _ := s.enumerate("AMT_RemoteAccessPolicyRule", 999)
		Expect(ids(rules, "PolicyRuleName")).To(Equal([]string{"Periodic 1", "User Initiated 2"}))
		Expect(rules[0].Get("ExtendedData")).To(Equal("AAAAAAAAABk="))
		applies, _ := s.enumerate("AMT_RemoteAccessPolicyAppliesToMPS", 999)
		Expect(applies).To(HaveLen(2))
		Expect(applies[0].Get("MpsType")).To(Equal("2"))
		me, _ := applies[0].Prop("ManagedElement")
		Expect(sel(me.EPR, "Name")).To(Equal(policy.MPSName(1)))
		Expect(s.get("AMT_UserInitiatedConnectionService").Get("EnabledState")).To(Equal("32771"))
		env := s.get("AMT_EnvironmentDetectionSettingData")
		Expect(env.Get("DetectionStrings")).To(Equal("corp.example"))
		Expect(s.get("AMT_RemoteAccessCapabilities").Get("MaxTotalMpServers")).To(Equal("6"))
		Expect(s.get("AMT_RemoteAccessService").Get("Name")).To(Equal("Intel(r) AMT Remote Access Service"))
		Expect(s.get("AMT_ManagementPresenceRemoteSAP", wsman.Sel("Name", policy.MPSName(1))).Get("Port")).To(Equal("4433"))
	})

	It("adds an MPS and an alert policy with primary and backup, handing the config to the device", func() {
		_, w := s.invoke("AMT_RemoteAccessService", "AddMpServer",
			wsman.S("AccessInfo", "198.18.2.10"), wsman.S("InfoFormat", "3"), wsman.S("Port", "4433"),
			wsman.S("AuthMethod", "2"), wsman.S("Username", "gw1"), wsman.S("Password", "Secret456"), wsman.S("CN", "gw.lan.example"))
		Expect(w.Fault).To(BeNil())
		Expect(w.ReturnValue).To(Equal("0"))
		out, ok := w.Output.Prop("MpServer")
		Expect(ok).To(BeTrue())
		Expect(sel(out.EPR, "Name")).To(Equal(policy.MPSName(2)))
		Expect(e.applied).To(Equal(1))
		Expect(e.pol.MPS).To(HaveLen(2))
		Expect(e.pol.MPS[1].Password).To(Equal("Secret456"))

		_, w = s.invoke("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule",
			wsman.S("Trigger", "1"), wsman.S("TunnelLifeTime", "600"),
			wsman.R("MpServer", *out.EPR),
			wsman.R("MpServer", wsman.NewEPR(wsman.ResourceURI("AMT_ManagementPresenceRemoteSAP"), wsman.Sel("Name", policy.MPSName(1)))))
		Expect(w.Fault).To(BeNil())
		Expect(w.ReturnValue).To(Equal("0"))
		pr, _ := w.Output.Prop("PolicyRule")
		Expect(sel(pr.EPR, "PolicyRuleName")).To(Equal("Alert 3"))
		Expect(e.pol.Rules).To(HaveLen(3))
		Expect(e.pol.Applies).To(ContainElements(
			policy.AppliesTo{Rule: "Alert 3", MPS: policy.MPSName(2), OrderOfAccess: 0, MpsType: policy.MpsExternal},
			policy.AppliesTo{Rule: "Alert 3", MPS: policy.MPSName(1), OrderOfAccess: 1, MpsType: policy.MpsExternal}))
		saps, _ := s.enumerate("AMT_ManagementPresenceRemoteSAP", 999)
		Expect(saps).To(HaveLen(2))
		_, has := saps[1].Prop("Password")
		Expect(has).To(BeFalse(), "credentials are write-only")
	})

	It("refuses bad values with a non-zero ReturnValue and bad arguments with a clear fault, leaving the config alone", func() {
		before := e.pol
		_, w := s.invoke("AMT_RemoteAccessService", "AddMpServer",
			wsman.S("AccessInfo", "mps2.example.com"), wsman.S("InfoFormat", "201"), wsman.S("Port", "4433"),
			wsman.S("AuthMethod", "2"), wsman.S("Username", "a-very-long-user-name"), wsman.S("Password", "x"))
		Expect(w.Fault).To(BeNil())
		Expect(w.ReturnValue).To(Equal("36"))
		_, w = s.invoke("AMT_RemoteAccessService", "AddMpServer",
			wsman.S("AccessInfo", "not-an-ip"), wsman.S("InfoFormat", "3"), wsman.S("Port", "4433"),
			wsman.S("AuthMethod", "2"), wsman.S("Username", "u"), wsman.S("Password", "p"))
		Expect(w.ReturnValue).To(Equal("36"))
		_, w = s.invoke("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule",
			wsman.S("Trigger", "2"), wsman.S("TunnelLifeTime", "0"), wsman.S("ExtendedData", "AAAAAAAAAB4="),
			wsman.R("MpServer", wsman.NewEPR(wsman.ResourceURI("AMT_ManagementPresenceRemoteSAP"), wsman.Sel("Name", policy.MPSName(1)))))
		Expect(w.ReturnValue).To(Equal("36"), "a second periodic policy")
		_, w = s.invoke("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule",
			wsman.S("Trigger", "1"), wsman.S("TunnelLifeTime", "0"),
			wsman.R("MpServer", wsman.NewEPR(wsman.ResourceURI("AMT_ManagementPresenceRemoteSAP"), wsman.Sel("Name", "no such MPS"))))
		Expect(w.ReturnValue).To(Equal("36"))
		Expect(e.applied).To(Equal(0))
		Expect(e.pol).To(Equal(before))

		r, w := s.invoke("AMT_RemoteAccessService", "AddMpServer",
			wsman.S("AccessInfo", "mps2.example.com"), wsman.S("InfoFormat", "201"), wsman.S("AuthMethod", "2"))
		Expect(r.StatusCode).To(Equal(400))
		Expect(w.Fault.Reason).To(Equal("AddMpServer: the required argument Port is missing"))
		r, w = s.invoke("AMT_RemoteAccessService", "AddRemoteAccessPolicyRule", wsman.S("Trigger", "1"), wsman.S("TunnelLifeTime", "0"))
		Expect(r.StatusCode).To(Equal(400))
		Expect(w.Fault.Reason).To(ContainSubstring("at least one MpServer"))
		_, w = s.invoke("AMT_RemoteAccessService", "CloseRemoteAccessConnection")
		Expect(w.Fault.Subcode).To(Equal("ActionNotSupported"))
	})

	It("refuses a seventh MPS with PT_STATUS_MAX_LIMIT_REACHED", func() {
		for i := 2; i <= policy.MaxMPS; i++ {
			_, w := s.invoke("AMT_RemoteAccessService", "AddMpServer",
				wsman.S("AccessInfo", "mps"+strconv.Itoa(i)+".example.com"), wsman.S("InfoFormat", "201"), wsman.S("Port", "4433"),
				wsman.S("AuthMethod", "2"), wsman.S("Username", "u"), wsman.S("Password", "p"))
			Expect(w.ReturnValue).To(Equal("0"))
		}
		_, w := s.invoke("AMT_RemoteAccessService", "AddMpServer",
			wsman.S("AccessInfo", "mps7.example.com"), wsman.S("InfoFormat", "201"), wsman.S("Port", "4433"),
			wsman.S("AuthMethod", "2"), wsman.S("Username", "u"), wsman.S("Password", "p"))
		Expect(w.ReturnValue).To(Equal("23"))
	})

	It("puts AppliesToMPS and the environment detection settings, and switches UIC", func() {
		applies, _ := s.enumerate("AMT_RemoteAccessPolicyAppliesToMPS", 999)
		a := applies[1]
		a.Set(wsman.S("MpsType", "0"))
		r, w := s.put(&a)
		Expect(r.StatusCode).To(Equal(200), string(r.Body))
		Expect(w.Instance.Get("MpsType")).To(Equal("0"))
		Expect(e.pol.Applies[1].MpsType).To(Equal(policy.MpsExternal))
		a.Set(wsman.S("OrderOfAccess", "7"))
		r, w = s.put(&a)
		Expect(r.StatusCode).To(Equal(400))
		Expect(w.Fault.Reason).To(ContainSubstring("OrderOfAccess"))

		env := s.get("AMT_EnvironmentDetectionSettingData")
		env.Set(wsman.L("DetectionStrings", "corp.example", "lan.example"))
		r, w = s.put(env)
		Expect(r.StatusCode).To(Equal(200), string(r.Body))
		got, _ := w.Instance.Prop("DetectionStrings")
		Expect(got.All()).To(Equal([]string{"corp.example", "lan.example"}))
		Expect(e.pol.Environment.DetectionStrings).To(Equal([]string{"corp.example", "lan.example"}))
		env.Set(wsman.L("DetectionStrings", "a", "b", "c", "d", "e"))
		r, w = s.put(env)
		Expect(r.StatusCode).To(Equal(400))
		Expect(w.Fault.Reason).To(ContainSubstring("at most 4 DetectionStrings, got 5"))

		_, w = s.invoke("AMT_UserInitiatedConnectionService", "RequestStateChange", wsman.S("RequestedState", "32769"))
		Expect(w.ReturnValue).To(Equal("0"))
		Expect(e.pol.UIC).To(Equal(policy.UICBIOSOnly))
		Expect(s.get("AMT_UserInitiatedConnectionService").Get("EnabledState")).To(Equal("32769"))
	})

	It("keeps its own configuration when the device gives no callbacks", func() {
		clk := e.clk
		h := e.host
		srv := wsmansrv.New(h, wsmansrv.Options{Clock: clk})
		e2 := &env{clk: clk, host: h, srv: srv}
		s2 := e2.login(true)
		items, _ := s2.enumerate("AMT_ManagementPresenceRemoteSAP", 999)
		Expect(items).To(BeEmpty())
		_, w := s2.invoke("AMT_RemoteAccessService", "AddMpServer",
			wsman.S("AccessInfo", "mps.example.com"), wsman.S("InfoFormat", "201"), wsman.S("Port", "4433"),
			wsman.S("AuthMethod", "2"), wsman.S("Username", "u"), wsman.S("Password", "p"))
		Expect(w.ReturnValue).To(Equal("0"))
		items, _ = s2.enumerate("AMT_ManagementPresenceRemoteSAP", 999)
		Expect(items).To(HaveLen(1))
		Expect(s2.get("AMT_UserInitiatedConnectionService").Get("EnabledState")).To(Equal("32768"))
	})
})
