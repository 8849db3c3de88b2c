// Package sanity runs the CSI conformance suite (csi-sanity from
// github.com/kubernetes-csi/csi-test/v5) against the Secrets Store CSI
// driver's node plugin over a real unix socket, with a fake provider on a
// real unix socket. See sanity_test.go.
package sanity
