// Package driver holds the types every package of the Secrets Store CSI
// driver shares: the driver and volume-context names, object versions, the
// MountInfo a publish hands to its hooks, and ProviderAttributes (which drops
// reserved csi.storage.k8s.io/ keys users set). It imports no
// other driver package.
//
// The packages, and what each depends on (each arrow is an import):
//
//   - driver/daemon: the process. New(Config) builds every part below and
//     Run serves them; cmd/secrets-store-csi-driver only turns flags into a
//     daemon.Config. It is the only package that knows all the others.
//   - driver/csiplugin → content, tmpfs, providerclient, metrics: the CSI
//     Identity and Node services (NodePublishVolume and NodeUnpublishVolume
//     as small steps) and the per-target lock.
//   - driver/content → atomicwriter, providerclient: Refresher, the one
//     "provider Mount + validate paths + atomic write" step that fills a
//     volume. NodePublishVolume calls it after mounting the tmpfs; rotation
//     calls it again (through csiplugin.Server.Refresh, under the target
//     lock) with the current object versions. On any error it leaves the old
//     content in place.
//   - driver/tmpfs: the OS-specific mount of the target directory.
//   - driver/atomicwriter: the Kubernetes atomic-writer layout (..data
//     symlink swapped over a timestamped directory, user-visible symlinks).
//   - driver/providerclient: gRPC over unix sockets to providers.
//   - driver/podstatus → spcclient: the SecretProviderClassPodStatus hook.
//   - driver/secretsync → metrics: the synced-Secret hook and its retries.
//   - driver/informers: the narrowed informers (this node's pods and pod
//     statuses, the used=true and managed=true Secrets) that rotation and
//     secret sync read.
//   - driver/rotation → content, podstatus, secretsync, informers, spcclient,
//     tmpfs, metrics: the poll loop. It takes the concrete clients it
//     drives (Config has *spcclient.Client, *podstatus.Client,
//     *secretsync.Syncer) and only the refresh step as an interface, so
//     tests can put the target lock around it.
//   - driver/metrics, driver/events: every metric and the event recorders.
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
//	attrs, _ := driver.ProviderAttributes(spc.Spec.Parameters, volumeAttributes, podInfo)
//	res, err := refresher.Refresh(ctx, content.Request{
//		Provider:              "azure",
//		Attributes:            attrs,
//		Secrets:               nodePublishSecretRefData,
//		TargetPath:            status.Status.TargetPath,
//		CurrentObjectVersions: currentFromPodStatus,
//	})
//	// res.Objects (sorted by ID), res.Files, res.Changed (false = nothing
//	// was written because the provider returned the same content).
//
// Errors are gRPC status errors; content.ErrorType(err) gives the bounded
// error_type metric label (the provider's error code or the gRPC code name).
package driver
