//go:build !linux

package tmpfs

import "errors"

// mountTmpfs is a no-op: the content is written into the directory itself.
func mountTmpfs(string) error { return nil }

func unmount(string) error { return errors.New("unmount: not supported on this OS") }

// IsMountPoint is always false where the driver mounts nothing.
func IsMountPoint(string) (bool, error) { return false, nil }
