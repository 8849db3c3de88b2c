// Package driver holds the contracts between the packages of the Secrets
// Store CSI driver, so that they depend on these small types rather than on
// each other:
//
//   - driver/csiplugin: the CSI Identity and Node services (NodePublishVolume
//     and NodeUnpublishVolume as small steps).
//   - driver/mount: Refresher, the one "provider Mount + validate paths +
//     atomic write" step. NodePublishVolume calls it after mounting the
//     tmpfs; rotation (driver/rotation) calls it again for an existing target
//     with the current object versions. On any error it leaves the old
//     content in place.
//   - driver/atomicwriter: the Kubernetes atomic-writer layout (..data
//     symlink swapped over a timestamped directory, user-visible symlinks).
//   - driver/providerclient: gRPC over unix sockets to providers.
//   - driver/tmpfs: the OS-specific mount of the target directory.
//   - driver/metrics: every driver metric, registered once.
//   - driver/podstatus, driver/secretsync, driver/rotation (second driver
//     engineer): PublishHook implementations and the rotation loop.
//
// # Publish hooks
//
// After NodePublishVolume has written the content, it calls every
// PublishHook with a MountInfo, in order (pod status first, then secret
// sync). A hook error fails NodePublishVolume with the error's gRPC code (or
// Internal); the content stays mounted and kubelet retries, and the retry is
// idempotent. Hooks whose failure must not keep the pod from starting (secret
// sync) report through events and metrics and return nil.
//
// # Refresh (for rotation)
//
//	res, err := refresher.Refresh(ctx, mount.Request{
//		Provider:              "azure",
//		Attributes:            driver.BuildAttributes(spc.Spec.Parameters, podInfo),
//		Secrets:               nodePublishSecretRefData,
//		TargetPath:            status.Status.TargetPath,
//		CurrentObjectVersions: currentFromPodStatus,
//	})
//	// res.Objects (sorted by ID), res.Files, res.Changed (false = nothing
//	// was written because the provider returned the same content).
//
// Errors are gRPC status errors; mount.ErrorType(err) gives the bounded
// error_type metric label (the provider's error code or the gRPC code name).
package driver
