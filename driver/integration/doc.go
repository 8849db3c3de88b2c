// Package integration tests the driver against a real kube-apiserver (the
// local cluster's control plane, with the CRDs from crds.FS and the real
// garbage collector): the SecretProviderClass lookup, the pod status and
// secret sync hooks behind NodePublishVolume, and garbage collection of
// synced Secrets. It holds only tests; the driver never imports the harness.
package integration
