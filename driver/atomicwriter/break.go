package atomicwriter

import (
	"fmt"
	"os"
	"path/filepath"
)

// BreakNonAtomicEnv, when set in the driver's environment, breaks Write on
// purpose for the mutation test of scenario faults/torn-reads: an update of
// an existing volume rewrites each file in place (truncate, then write),
// one after another, as a naive writer would, so a reader can see an empty,
// partial or mixed version. Never set it outside that test.
const BreakNonAtomicEnv = "KVCSI_BREAK_NON_ATOMIC_WRITE"

var breakNonAtomic = os.Getenv(BreakNonAtomicEnv) != ""

// writeInPlace is the broken writer: files of the current version
// directory tsName rewritten where they are.
func writeInPlace(dir, tsName string, files []File) (bool, error) {
	for _, f := range files {
		p := filepath.Join(dir, tsName, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, f.Mode.Perm())
		if err != nil {
			return false, fmt.Errorf("write %q: %w", f.Path, err)
		}
		_, err = fh.Write(f.Data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, fmt.Errorf("write %q: %w", f.Path, err)
		}
	}
	return true, createUserVisibleLinks(dir, files)
}
