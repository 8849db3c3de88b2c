//go:build linux

package tmpfs

import (
	"errors"
	"fmt"
	"os"
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
// device with its parent's (or, for bind mounts on the same device, by
// /proc/self/mountinfo).
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
	if st.Dev != pst.Dev {
		return true, nil
	}
	return inMountInfo(target)
}

func inMountInfo(target string) (bool, error) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return false, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, nil // no procfs: the device check is all we have
	}
	for _, line := range splitLines(b) {
		// Fields: id parent major:minor root mountpoint ...
		f := fields(line)
		if len(f) > 4 && unescape(f[4]) == abs {
			return true, nil
		}
	}
	return false, nil
}
