package scenarios

import "time"

// RotationPollInterval is the poll interval the scenario run enables the add-on
// with: short, so rotation scenarios finish in seconds rather than the
// documented 2-minute default.
var RotationPollInterval = 10 * time.Second

// Catalogue is every behaviour, in the order they run: the add-on is enabled
// first and disabled last, since disabling removes the driver. The AKS page's
// behaviours come first; each later group lives in its own file and is listed
// here once, so groups can grow without touching this file.
func Catalogue() []Scenario {
	groups := [][]Scenario{
		documented,
		compatScenarios,     // compat.go: classes upstream mounts
		syncScenarios,       // sync_more.go: sync beyond the AKS page
		rotationScenarios,   // rotation_more.go: refresh on demand, class edits
		doctorScenarios,     // doctor.go: kvcsi doctor's diagnoses
		secretSyncScenarios, // secretsync.go: SecretSync without a pod
		faultScenarios,      // faults.go: failures a node meets in production
		securityScenarios,   // security.go: attacker-shaped checks
		closing,
	}
	var out []Scenario
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// documented is the AKS page's behaviours in the order they run.
var documented = []Scenario{
	addonEnable,
	mountSecret,
	mountKeyCert,
	mountMultiple,
	mountInline,
	mountAlias,
	mountVersion,
	mountVersionHistory,
	mountFilePermission,
	certificateObjects,
	certificatePFX,
	syncOpaque,
	syncTLS,
	syncEnvNeedsMount,
	syncDeletedWithPods,
	classesNamespaced,
	classesMultiple,
	identityUserMSI,
	identitySystemMSI,
	identityWorkload,
	identityPodIdentity,
	identityServicePrincipal,
	identityNoAccess,
	rotationAuto,
	rotationSubPath,
	rotationCustomInterval,
	addonUpdate,
	rotationDisabled,
	metricsDriver,
	metricsProvider,
}

// closing disables the add-on: it runs last.
var closing = []Scenario{
	addonDisableRefused,
	addonDisable,
}
