//go:build linux

package tmpfs

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func mountTmpfs(target string) error {
	return unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "")
}

func unmount(target string) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EINVAL) {
		return nil // not mounted
	}
	return err
}

// IsMountPoint reports whether target is a mount point, by comparing its
// device with its parent's. That is exact for what the driver mounts (a
// tmpfs is always a new device) and, unlike reading /proc/self/mountinfo,
// costs the same with thousands of mounts on the node.
func IsMountPoint(target string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(target, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", target, err)
	}
	if err := unix.Lstat(filepath.Dir(filepath.Clean(target)), &pst); err != nil {
		return false, fmt.Errorf("stat parent of %s: %w", target, err)
	}
	return st.Dev != pst.Dev, nil
}
