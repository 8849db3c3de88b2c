// Package tmpfs prepares and removes the target directory of a volume. On
// Linux the content lives on a tmpfs mounted at the target, so secrets never
// touch a disk; Windows has no tmpfs, so there (as upstream) the content is
// written into the target directory itself.
package tmpfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// TargetDirMode is the mode of a target directory the driver creates;
// kubelet ≥1.20 no longer creates it.
const TargetDirMode fs.FileMode = 0o750

// Mount makes target a fresh, empty volume: it creates the directory and,
// where the OS supports it, mounts a tmpfs on it. If target already is a
// mount point, Mount does nothing and returns mounted=false.
func Mount(target string) (mounted bool, err error) {
	if err := os.MkdirAll(target, TargetDirMode); err != nil {
		return false, fmt.Errorf("create target directory %s: %w", target, err)
	}
	isMP, err := IsMountPoint(target)
	if err != nil {
		return false, err
	}
	if isMP && !breakMountTwice { // breakMountTwice: mutation tests only (break.go)
		return false, nil
	}
	if err := mountTmpfs(target); err != nil {
		return false, fmt.Errorf("mount tmpfs at %s: %w", target, err)
	}
	return true, nil
}

// Unmount removes the volume at target: every mount stacked on it, then the
// directory itself. A target that does not exist is already unmounted.
func Unmount(target string) error {
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for i := 0; i < 16; i++ {
		isMP, err := IsMountPoint(target)
		if err != nil {
			return err
		}
		if !isMP {
			break
		}
		if err := unmount(target); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	// Once unmounted, the directory holds at most what a provider without
	// tmpfs support (Windows, legacy providers) wrote into it.
	if err := os.RemoveAll(target); err != nil {
		return fmt.Errorf("remove target %s: %w", target, err)
	}
	return nil
}
