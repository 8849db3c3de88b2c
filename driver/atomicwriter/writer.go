// Package atomicwriter writes a set of files into a directory so that readers
// always see one complete version of all of them, using the layout kubelet
// uses for secret and configMap volumes (and that the upstream Secrets Store
// CSI driver uses, so users' tooling sees the same tree):
//
//	<dir>/..2026_11_29_01_02_03.0a1b2c3d4e5f/<files>  the payload of one version
//	<dir>/..data -> ..2026_11_29_01_02_03.0a1b2c3d4e5f  swapped atomically by rename
//	<dir>/<name> -> ..data/<name>                       one user-visible symlink per top-level name
//
// (the version directory is the UTC time to the second and 12 random hex
// characters).
//
// A reader that opens <dir>/<name> resolves ..data once, so it reads either
// the old or the new version, never a mix, and an open file keeps its
// content even after the old version is removed.
package atomicwriter

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DataDirName is the symlink to the current version.
	DataDirName = "..data"
	// newDataDirName is the temporary symlink renamed over DataDirName.
	newDataDirName = "..data_tmp"

	maxPathLength = 4096
	maxFileLength = 255
)

// ErrCleanup is wrapped by Write's error when the new content is in place
// but removing the old version failed; the volume shows the right content.
var ErrCleanup = errors.New("content updated, but removing the old version failed")

// File is one file of a payload.
type File struct {
	// Path is relative to the target directory, already clean, no "..".
	Path string
	// Mode is the file's permission bits (e.g. 0644).
	Mode fs.FileMode
	// Data is the file's content.
	Data []byte
}

// ValidatePath checks that a payload path stays inside the target
// directory: relative, clean, no ".." element, no leading "..", and within
// the kernel's name and path length limits. The error names the path and
// says what is wrong with it.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return errors.New("file path is empty")
	case len(p) > maxPathLength:
		return fmt.Errorf("file path %.64q... is longer than %d characters", p, maxPathLength)
	case filepath.IsAbs(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`):
		return fmt.Errorf("file path %q must be relative to the mount, not absolute", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("file path %q must not start with '..'", p)
	}
	for _, elem := range strings.Split(filepath.ToSlash(p), "/") {
		if elem == ".." {
			return fmt.Errorf("file path %q must not contain '..'", p)
		}
		if len(elem) > maxFileLength {
			return fmt.Errorf("file path %q has a name longer than %d characters", p, maxFileLength)
		}
	}
	if filepath.Clean(p) != p {
		return fmt.Errorf("file path %q is not clean (want %q)", p, filepath.Clean(p))
	}
	if p == "." {
		return fmt.Errorf("file path %q names the mount itself", p)
	}
	return nil
}

// validatePayload checks every path and that no path is used twice or is
// both a file and a directory of another file.
func validatePayload(files []File) error {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if err := ValidatePath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("file path %q is returned twice", f.Path)
		}
		seen[f.Path] = true
	}
	for _, f := range files {
		for d := filepath.Dir(f.Path); d != "." && d != string(filepath.Separator); d = filepath.Dir(d) {
			if seen[d] {
				return fmt.Errorf("file path %q is both a file and the directory of %q", d, f.Path)
			}
		}
	}
	return nil
}

// Write makes files the content of dir. It returns changed=false, and writes
// nothing, when dir already holds exactly these files with these modes. On
// error the previous content stays visible and nothing of the new version
// is left behind.
func Write(dir string, files []File) (changed bool, err error) {
	if err := validatePayload(files); err != nil {
		return false, err
	}
	if st, err := os.Stat(dir); err != nil {
		return false, fmt.Errorf("target directory: %w", err)
	} else if !st.IsDir() {
		return false, fmt.Errorf("target %q is not a directory", dir)
	}

	oldTsName, err := currentVersion(dir)
	if err != nil {
		return false, err
	}
	oldPaths := map[string]bool{}
	if oldTsName != "" {
		oldTsDir := filepath.Join(dir, oldTsName)
		same, paths, err := sameContent(oldTsDir, files)
		if err != nil {
			return false, err
		}
		if same {
			return false, nil
		}
		oldPaths = paths
		if breakNonAtomic {
			return writeInPlace(dir, oldTsName, files)
		}
	}

	tsDir, err := newTimestampDir(dir)
	if err != nil {
		return false, err
	}
	tsName := filepath.Base(tsDir)
	cleanup := func() { _ = os.RemoveAll(tsDir) }

	if err := writePayload(tsDir, files); err != nil {
		cleanup()
		return false, err
	}
	if err := createUserVisibleLinks(dir, files); err != nil {
		cleanup()
		return false, err
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(tsName, tmpLink); err != nil {
		cleanup()
		return false, fmt.Errorf("create %s: %w", newDataDirName, err)
	}
	if err := renameOver(tmpLink, filepath.Join(dir, DataDirName)); err != nil {
		_ = os.Remove(tmpLink)
		cleanup()
		return false, fmt.Errorf("swap %s: %w", DataDirName, err)
	}

	// The new version is live. Remove what only the old one had; failures
	// here leave garbage but never a wrong view, so they are reported only
	// after the rest was tried.
	var errs []error
	newTop := topLevelNames(files)
	for p := range oldPaths {
		top := strings.SplitN(filepath.ToSlash(p), "/", 2)[0]
		if !newTop[top] {
			if err := os.Remove(filepath.Join(dir, top)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			newTop[top] = true // removed once
		}
	}
	if oldTsName != "" && oldTsName != tsName {
		if err := os.RemoveAll(filepath.Join(dir, oldTsName)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return true, fmt.Errorf("%w: %w", ErrCleanup, errors.Join(errs...))
	}
	return true, nil
}

// currentVersion returns the name ..data points to, or "" when there is no
// ..data. Write removes that directory once the new version is live, so it
// must be this writer's own: ..data a symlink whose target is one name
// starting with ".." (not ".." itself), directly inside dir, that is a real
// directory when it exists. Anything else (a planted ..data -> ../victim, a
// link to an absolute path, ..data as a directory) is refused before
// anything is written, renamed or removed.
func currentVersion(dir string) (string, error) {
	link := filepath.Join(dir, DataDirName)
	st, err := os.Lstat(link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", link, err)
	}
	if st.Mode()&fs.ModeSymlink == 0 {
		return "", fmt.Errorf("refusing to write %s: %s is not a symlink (it is %v); the target holds something this writer did not create", dir, link, st.Mode().Type())
	}
	name, err := os.Readlink(link)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", link, err)
	}
	if name == ".." || !strings.HasPrefix(name, "..") || strings.ContainsAny(name, `/\`) || filepath.Base(name) != name ||
		name == DataDirName || name == newDataDirName {
		return "", fmt.Errorf("refusing to write %s: %s points to %q, not to a version directory directly inside the target; nothing was changed", dir, link, name)
	}
	vst, err := os.Lstat(filepath.Join(dir, name))
	if err == nil && !vst.IsDir() {
		return "", fmt.Errorf("refusing to write %s: %s points to %q, which is not a directory (it is %v); nothing was changed", dir, link, name, vst.Mode().Type())
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	return name, nil
}

func topLevelNames(files []File) map[string]bool {
	out := make(map[string]bool, len(files))
	for _, f := range files {
		out[strings.SplitN(filepath.ToSlash(f.Path), "/", 2)[0]] = true
	}
	return out
}

// sameContent reports whether tsDir holds exactly files (paths, bytes and
// permission bits), and returns the paths tsDir holds.
func sameContent(tsDir string, files []File) (bool, map[string]bool, error) {
	have := map[string]bool{}
	err := filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(tsDir, p)
			have[rel] = true
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, have, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("read current content: %w", err)
	}
	if len(have) != len(files) {
		return false, have, nil
	}
	for _, f := range files {
		if !have[f.Path] {
			return false, have, nil
		}
		p := filepath.Join(tsDir, f.Path)
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != f.Mode.Perm() {
			return false, have, nil
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return false, have, nil
		}
	}
	return true, have, nil
}

func newTimestampDir(dir string) (string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	name := ".." + time.Now().UTC().Format("2006_01_02_15_04_05") + "." + hex.EncodeToString(rnd[:])
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		return "", fmt.Errorf("create version directory: %w", err)
	}
	// Mkdir is subject to the umask; the layout wants exactly 0755.
	if err := os.Chmod(p, 0o755); err != nil {
		return "", fmt.Errorf("chmod version directory: %w", err)
	}
	return p, nil
}

func writePayload(tsDir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(tsDir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write %q: %w", f.Path, err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode.Perm()); err != nil {
			return fmt.Errorf("write %q: %w", f.Path, err)
		}
		// WriteFile's mode is subject to the umask; set it explicitly.
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			return fmt.Errorf("chmod %q: %w", f.Path, err)
		}
	}
	return nil
}

// createUserVisibleLinks makes <dir>/<top> -> ..data/<top> for every
// top-level name that does not have it yet. Links to names that the new
// version introduces dangle until the swap, which readers see as "not
// there yet", never as wrong content.
func createUserVisibleLinks(dir string, files []File) error {
	for top := range topLevelNames(files) {
		link := filepath.Join(dir, top)
		want := filepath.Join(DataDirName, top)
		if got, err := os.Readlink(link); err == nil {
			if got == want {
				continue
			}
			return fmt.Errorf("file path %q: %s exists and is not this volume's link", top, link)
		} else if _, lerr := os.Lstat(link); lerr == nil {
			return fmt.Errorf("file path %q: %s exists and is not a link", top, link)
		}
		if err := os.Symlink(want, link); err != nil {
			return fmt.Errorf("link %q: %w", top, err)
		}
	}
	return nil
}
