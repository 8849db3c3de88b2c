package kindnode

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is one file, directory or symlink of a layer. A file's content is
// data, or the file at src when src is set.
type entry struct {
	name   string // absolute path in the image
	mode   int64  // permission bits
	dir    bool
	link   string // symlink target
	data   []byte
	src    string
	hidden bool // written, but not listed in the layout (parent dirs)
}

func file(name string, mode int64, data string) entry {
	return entry{name: name, mode: mode, data: []byte(data)}
}

func copyOf(name string, mode int64, src string) entry {
	return entry{name: name, mode: mode, src: src}
}

func dir(name string) entry { return entry{name: name, mode: 0o755, dir: true} }

func symlink(name, target string) entry { return entry{name: name, link: target} }

// epoch is the fixed mtime of every entry, so a layer's digest depends only on
// its content.
var epoch = time.Unix(0, 0)

// writeLayer writes entries (and their missing parent directories) as an
// uncompressed tar to dst and returns its sha256 (the layer's diff ID).
func writeLayer(dst string, entries []entry) (string, error) {
	byName := map[string]entry{}
	for _, e := range entries {
		e.name = path.Clean("/" + e.name)
		byName[e.name] = e
		for p := path.Dir(e.name); p != "/"; p = path.Dir(p) {
			if _, ok := byName[p]; !ok {
				byName[p] = entry{name: p, mode: 0o755, dir: true, hidden: true}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	for _, n := range names {
		e := byName[n]
		hdr := &tar.Header{Name: strings.TrimPrefix(n, "/"), Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case e.dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case e.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, e.link, 0o777
		default:
			hdr.Typeflag = tar.TypeReg
			if e.src != "" {
				fi, err := os.Stat(e.src)
				if err != nil {
					f.Close()
					return "", err
				}
				hdr.Size = fi.Size()
			} else {
				hdr.Size = int64(len(e.data))
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return "", err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if e.src == "" {
			if _, err := tw.Write(e.data); err != nil {
				f.Close()
				return "", err
			}
			continue
		}
		sf, err := os.Open(e.src)
		if err != nil {
			f.Close()
			return "", err
		}
		_, err = io.Copy(tw, sf)
		sf.Close()
		if err != nil {
			f.Close()
			return "", fmt.Errorf("copy %s into %s: %w", e.src, dst, err)
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileSHA256 is the sha256 of a file's bytes.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// layerFile is an uncompressed layer tar and its diff ID (hex sha256).
type layerFile struct {
	path   string
	diffID string
}

// containerConfig is the part of an image config the node and its images set.
type containerConfig struct {
	Env        []string          `json:"Env,omitempty"`
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	StopSignal string            `json:"StopSignal,omitempty"`
	User       string            `json:"User,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// writeArchive writes a docker-archive (`docker save` layout, uncompressed
// layers): what `podman load` and `ctr images import` both read. It returns
// the image ID (sha256 of the config).
func writeArchive(dst string, tags []string, layers []layerFile, cc containerConfig) (string, error) {
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = "sha256:" + l.diffID
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.UTC().Format(time.RFC3339),
		"config":       cc,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(cfg)
	id := hex.EncodeToString(sum[:])
	layerNames := make([]string, len(layers))
	for i, l := range layers {
		layerNames[i] = l.diffID + "/layer.tar"
	}
	manifest, err := json.Marshal([]map[string]any{{"Config": id + ".json", "RepoTags": tags, "Layers": layerNames}})
	if err != nil {
		return "", err
	}
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(id+".json", cfg); err != nil {
		f.Close()
		return "", err
	}
	seen := map[string]bool{}
	for i, l := range layers {
		if seen[l.diffID] {
			continue
		}
		seen[l.diffID] = true
		fi, err := os.Stat(l.path)
		if err != nil {
			f.Close()
			return "", err
		}
		if err := tw.WriteHeader(&tar.Header{Name: layerNames[i], Mode: 0o644, Size: fi.Size(), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			f.Close()
			return "", err
		}
		lf, err := os.Open(l.path)
		if err != nil {
			f.Close()
			return "", err
		}
		_, err = io.Copy(tw, lf)
		lf.Close()
		if err != nil {
			f.Close()
			return "", err
		}
	}
	if err := add("manifest.json", manifest); err != nil {
		f.Close()
		return "", err
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	return id, os.Rename(tmp, dst)
}
