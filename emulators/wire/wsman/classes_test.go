package wsman_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func inst(class string, props ...wsman.Prop) wsman.Instance {
	return wsman.Instance{Class: class, ResourceURI: wsman.ResourceURI(class), Props: props}
}

// Representative instances of the §3.4 cheat-sheet: scalars, repeated
// values and association EPRs all survive writer → parser.
var cheatSheet = []wsman.Instance{
	inst("IPS_HostBasedSetupService",
		wsman.L("AllowedControlModes", "2", "1"), wsman.S("CertChainStatus", "0"),
		wsman.S("ConfigurationNonce", "q83vEjRWeJq83vEjRWeJq83vEjQ="), wsman.S("CreationClassName", "IPS_HostBasedSetupService"),
		wsman.S("CurrentControlMode", "2"), wsman.S("ElementName", "Intel(r) AMT Host Based Setup Service"),
		wsman.S("Name", "Intel(r) AMT Host Based Setup Service"), wsman.S("SystemCreationClassName", "CIM_ComputerSystem"),
		wsman.S("SystemName", "Intel(r) AMT")),
	inst("CIM_SoftwareIdentity", wsman.S("InstanceID", "AMT"), wsman.S("IsEntity", "true"), wsman.S("VersionString", "16.1.27")),
	inst("AMT_SetupAndConfigurationService", wsman.S("EnabledState", "5"), wsman.S("ProvisioningMode", "1"),
		wsman.S("ProvisioningState", "2"), wsman.S("RequestedState", "12"), wsman.S("ZeroTouchConfigurationEnabled", "true")),
	inst("CIM_KVMRedirectionSAP", wsman.S("EnabledState", "6"), wsman.S("KVMProtocol", "4"),
		wsman.S("Name", "KVM Redirection Service Access Point"), wsman.S("RequestedState", "2"), wsman.S("SystemName", "ManagedSystem")),
	inst("IPS_OptInService", wsman.S("CanModifyOptInPolicy", "1"), wsman.S("OptInCodeTimeout", "120"),
		wsman.S("OptInDisplayTimeout", "300"), wsman.S("OptInRequired", "4294967295"), wsman.S("OptInState", "0")),
	inst("IPS_KVMRedirectionSettingData", wsman.S("BackToBackFbMode", "false"), wsman.S("RFBPassword", ""), wsman.S("SessionTimeout", "3")),
	inst("CIM_ComputerSystemPackage",
		wsman.R("Antecedent", wsman.NewEPR(wsman.ResourceURI("CIM_Chassis"), wsman.Sel("CreationClassName", "CIM_Chassis"), wsman.Sel("Tag", "CIM_Chassis"))),
		wsman.R("Dependent", wsman.NewEPR(wsman.ResourceURI("CIM_ComputerSystem"), wsman.Sel("CreationClassName", "CIM_ComputerSystem"), wsman.Sel("Name", "ManagedSystem"))),
		wsman.S("PlatformGUID", "78563412BC9AF0DE1122334455667788")),
	inst("AMT_TLSCredentialContext",
		wsman.R("ElementInContext", wsman.NewEPR(wsman.ResourceURI("AMT_PublicKeyCertificate"), wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 0"))),
		wsman.R("ElementProvidingContext", wsman.NewEPR(wsman.ResourceURI("AMT_TLSProtocolEndpointCollection"), wsman.Sel("ElementName", "TLSProtocolEndpointInstances Collection")))),
}

var _ = Describe("class cheat-sheet (§3.4)", func() {
	It("round-trips every sample through Get and Pull", func() {
		for k := range cheatSheet {
			in := cheatSheet[k]
			rep := wsman.Reply{RelatesTo: "1", MessageID: wsman.FormatMessageID(uint64(k)), ResourceURI: in.ResourceURI}
			r, err := wsman.ParseResponse(wsman.AppendGetResponse(nil, rep, &in), wsman.Limits{})
			Expect(err).NotTo(HaveOccurred())
			Expect(*r.Instance).To(Equal(in))
		}
		r, err := wsman.ParseResponse(wsman.AppendPullResponse(nil, wsman.Reply{RelatesTo: "2"}, cheatSheet, "", true), wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Items).To(Equal(cheatSheet))
		Expect(r.EndOfSequence).To(BeTrue())
	})
})
