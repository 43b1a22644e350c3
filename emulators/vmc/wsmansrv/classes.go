package wsmansrv

import "github.com/oobtb/oobtb/emulators/wire/wsman"

// classes are the served classes by name; anything else answers
// DestinationUnreachable. docs/wsman-classes.md describes each one.
var classes map[string]*class

func get(f func(*Server) []wsman.Instance) *class { return &class{instances: f} }

func init() {
	classes = map[string]*class{
		// Identity and provisioning (§3.2 step 1, §3.3 version).
		"AMT_GeneralSettings":              get(generalSettings),
		"IPS_HostBasedSetupService":        get(hostBasedSetup),
		"AMT_SetupAndConfigurationService": get(setupAndConfiguration),
		"CIM_SoftwareIdentity":             get(softwareIdentity),

		// Hardware inventory (§3.2 step 6, §3.3 hardwareInfo).
		"CIM_ComputerSystemPackage": get(computerSystemPackage),
		"CIM_Chassis":               get(chassis),
		"CIM_Card":                  get(card),
		"CIM_BIOSElement":           get(biosElement),
		"CIM_SystemPackaging":       get(systemPackaging),
		"CIM_Chip":                  get(chip),
		"CIM_Processor":             get(processor),
		"CIM_PhysicalMemory":        get(physicalMemory),
		"CIM_MediaAccessDevice":     get(mediaAccessDevice),
		"CIM_PhysicalPackage":       get(physicalPackage),
		"AMT_EthernetPortSettings":  get(ethernetPortSettings),

		// Power (§3.2 step 7, §3.3 power).
		"CIM_ServiceAvailableToElement":        get(associatedPowerService),
		"CIM_AssociatedPowerManagementService": get(associatedPowerService),
		"IPS_PowerManagementService":           get(ipsPowerService),
		"CIM_PowerManagementService": {instances: cimPowerService,
			methods: map[string]method{"RequestPowerStateChange": requestPowerStateChange}},

		// Redirection (§3.2 step 5, §3.3 features and KVM).
		"AMT_RedirectionService": {instances: redirectionService, put: putRedirection,
			methods: map[string]method{"RequestStateChange": redirectionRequestStateChange}},
		"CIM_KVMRedirectionSAP": {instances: kvmSAP,
			methods: map[string]method{"RequestStateChange": kvmRequestStateChange}},
		"IPS_KVMRedirectionSettingData": {instances: kvmSettings, put: putKVMSettings},
		"IPS_OptInService":              {instances: optInService, put: putOptIn},
		"IPS_ScreenSettingData":         get(screenSettings),

		// Clock (§3.2 step 2).
		"AMT_TimeSynchronizationService": {instances: timeSyncService, methods: map[string]method{
			"GetLowAccuracyTimeSynch":  getLowAccuracyTimeSynch,
			"SetHighAccuracyTimeSynch": setHighAccuracyTimeSynch}},

		// Boot (§3.3 features, OCR data).
		"AMT_BootCapabilities":  get(bootCapabilities),
		"AMT_BootSettingData":   {instances: bootSettingData, put: putBootSettings},
		"CIM_BootService":       get(bootService),
		"CIM_BootSourceSetting": get(bootSourceSetting),

		// TLS (§3.2 step 3).
		"AMT_PublicKeyCertificate": get(publicKeyCertificate),
		"AMT_PublicPrivateKeyPair": get(publicPrivateKeyPair),
		"AMT_TLSSettingData":       get(tlsSettingData),
		"AMT_TLSCredentialContext": get(tlsCredentialContext),

		// Remote access (§4.1).
		"AMT_ManagementPresenceRemoteSAP": get(managementPresenceSAPs),
		"AMT_RemoteAccessPolicyRule":      get(policyRules),
		"AMT_RemoteAccessPolicyAppliesToMPS": {instances: appliesToMPS, put: putAppliesToMPS,
			putPick: appliesPick},
		"AMT_RemoteAccessService": {instances: remoteAccessService, methods: map[string]method{
			"AddMpServer":               addMpServer,
			"AddRemoteAccessPolicyRule": addRemoteAccessPolicyRule}},
		"AMT_UserInitiatedConnectionService": {instances: userInitiatedConnection,
			methods: map[string]method{"RequestStateChange": uicRequestStateChange}},
		"AMT_EnvironmentDetectionSettingData": {instances: environmentDetection, put: putEnvironmentDetection},
		"AMT_RemoteAccessCapabilities":        get(remoteAccessCapabilities),
	}
}
