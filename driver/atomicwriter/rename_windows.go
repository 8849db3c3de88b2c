//go:build windows

package atomicwriter

import "os"

// renameOver replaces newname with oldname. Windows cannot rename a
// directory symlink over an existing one, so the old link is removed first;
// the window in which ..data is missing is as short as two system calls,
// which is what kubelet's own writer accepts on Windows.
func renameOver(oldname, newname string) error {
	if err := os.Rename(oldname, newname); err == nil {
		return nil
	}
	if err := os.Remove(newname); err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.Rename(oldname, newname)
}
