//go:build !windows

package atomicwriter

import "os"

// renameOver atomically replaces newname with oldname (rename(2)).
func renameOver(oldname, newname string) error { return os.Rename(oldname, newname) }
