// Package buildinfo carries the version stamped into every kvcsi binary at
// link time, so that all of them report the same one.
package buildinfo

// Version is set with -ldflags "-X github.com/kvcsi/kvcsi/internal/buildinfo.Version=...".
var Version = "dev"
