package scenarios

import "time"

// RotationPollInterval is the poll interval the scenario run enables the add-on
// with: short, so rotation scenarios finish in seconds rather than the
// documented 2-minute default.
var RotationPollInterval = 10 * time.Second

// Catalogue is every documented behaviour, in the order they run: the add-on
// is enabled first and disabled last, since disabling removes the driver.
func Catalogue() []Scenario {
	return []Scenario{
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
		addonDisableRefused,
		addonDisable,
	}
}
