package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the modification time of every entry, so that the same inputs give
// byte-identical layers (and the same image ID) on every machine.
var epoch = time.Unix(0, 0).UTC()

// entry is one file, directory or symlink of a layer.
type entry struct {
	name     string // absolute path inside the image
	typ      byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64
	uid, gid int
	data     []byte // regular files
	target   string // symlinks
}

// fileTree collects the entries of one layer. Parent directories are added
// implicitly, because containerd's unpacker and kind's importer both expect
// them to exist before their children.
type fileTree struct {
	entries map[string]entry
}

func newFileTree() *fileTree { return &fileTree{entries: map[string]entry{}} }

func (t *fileTree) dir(name string, mode int64, uid, gid int) {
	name = clean(name)
	t.parents(name)
	t.entries[name] = entry{name: name, typ: tar.TypeDir, mode: mode, uid: uid, gid: gid}
}

func (t *fileTree) file(name string, mode int64, data []byte) {
	name = clean(name)
	t.parents(name)
	t.entries[name] = entry{name: name, typ: tar.TypeReg, mode: mode, data: data}
}

func (t *fileTree) symlink(name, target string) {
	name = clean(name)
	t.parents(name)
	t.entries[name] = entry{name: name, typ: tar.TypeSymlink, mode: 0o777, target: target}
}

func (t *fileTree) parents(name string) {
	for d := path.Dir(name); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := t.entries[d]; !ok {
			t.entries[d] = entry{name: d, typ: tar.TypeDir, mode: 0o755}
		}
	}
}

func clean(name string) string { return path.Clean("/" + name) }

// tar renders the tree as an uncompressed tar stream in lexical order, with
// relative names as docker save and ko produce them.
func (t *fileTree) tar() ([]byte, error) {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := t.entries[n]
		hdr := &tar.Header{
			Name:     strings.TrimPrefix(e.name, "/"),
			Typeflag: e.typ,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		case tar.TypeSymlink:
			hdr.Linkname = e.target
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header %s: %w", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, fmt.Errorf("tar data %s: %w", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layer turns the tree into a gzip-compressed image layer.
func (t *fileTree) layer(opts ...tarball.LayerOption) (v1.Layer, error) {
	raw, err := t.tar()
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, append([]tarball.LayerOption{tarball.WithCompressedCaching}, opts...)...)
}
