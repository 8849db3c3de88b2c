package images

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// recipeVersion changes whenever the layout of the images changes, so that
// tarballs built by an older recipe are rebuilt even if the binary is equal.
const recipeVersion = "kvcsi-images/1"

// Label keys, from the OCI image spec annotations.
const (
	LabelTitle       = "org.opencontainers.image.title"
	LabelDescription = "org.opencontainers.image.description"
	LabelVersion     = "org.opencontainers.image.version"
	LabelSource      = "org.opencontainers.image.source"
	// LabelBuild is the kvcsi version that built the image; for pause and
	// busybox it differs from the image's own version.
	LabelBuild = "io.kvcsi.build-version"
)

const sourceURL = "https://github.com/kvcsi/kvcsi"

// inputs is stored next to each tarball (<name>.tar.inputs) to decide
// whether it can be reused.
type inputs struct {
	Key    string `json:"key"`
	Ref    string `json:"ref"`
	ID     string `json:"id"`
	Digest string `json:"digest"`
}

// buildOne writes <OutDir>/<name>.tar unless its inputs are unchanged.
func (o *Options) buildOne(s spec, binPath string) (Image, error) {
	ref := s.ref(o.Version)
	tarPath := filepath.Join(o.OutDir, s.name+".tar")
	content, err := o.collect(s, binPath)
	if err != nil {
		return Image{}, err
	}
	key := content.key(o, s, ref)
	if prev, ok := readInputs(tarPath); ok && prev.Key == key && prev.Ref == ref {
		return Image{Name: s.name, Ref: ref, Path: tarPath, ID: prev.ID, Digest: prev.Digest, Cached: true}, nil
	}

	img, err := o.assemble(s, ref, content)
	if err != nil {
		return Image{}, err
	}
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return Image{}, fmt.Errorf("reference %q: %w", ref, err)
	}
	if err := writeAtomic(tarPath, func(f *os.File) error { return tarball.Write(tag, img, f) }); err != nil {
		return Image{}, fmt.Errorf("write %s: %w", tarPath, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return Image{}, err
	}
	dig, err := img.Digest()
	if err != nil {
		return Image{}, err
	}
	in := inputs{Key: key, Ref: ref, ID: id.String(), Digest: dig.String()}
	data, _ := json.MarshalIndent(in, "", "  ")
	if err := writeAtomic(tarPath+".inputs", func(f *os.File) error { _, err := f.Write(data); return err }); err != nil {
		return Image{}, err
	}
	return Image{Name: s.name, Ref: ref, Path: tarPath, ID: in.ID, Digest: in.Digest}, nil
}

// content is everything that goes into one image besides the recipe.
type content struct {
	binary   []byte   // the Go binary, or busybox
	caBundle []byte   // nil unless the recipe carries it
	applets  []string // busybox applet paths, e.g. "bin/sh"
	busybox  string   // busybox's banner, for a label
}

func (o *Options) collect(s spec, binPath string) (content, error) {
	var c content
	var err error
	check := binPath
	if s.busybox {
		check = o.BusyboxPath
	}
	if err := checkStaticELF(check, o.GOARCH); err != nil {
		if s.busybox {
			return c, fmt.Errorf("busybox: %w (install Debian's busybox-static: make deps, or set Options.BusyboxPath)", err)
		}
		return c, err
	}
	if s.busybox {
		if c.binary, err = os.ReadFile(o.BusyboxPath); err != nil {
			return c, fmt.Errorf("read busybox: %w (install Debian's busybox-static: make deps, or set Options.BusyboxPath)", err)
		}
		if c.applets, c.busybox, err = busyboxApplets(o.BusyboxPath); err != nil {
			return c, err
		}
	} else if c.binary, err = os.ReadFile(binPath); err != nil {
		return c, fmt.Errorf("read binary: %w", err)
	}
	if s.caBundle {
		if c.caBundle, err = os.ReadFile(o.CABundlePath); err != nil {
			return c, fmt.Errorf("read CA bundle: %w (install Debian's ca-certificates: make deps, or set Options.CABundlePath)", err)
		}
	}
	return c, nil
}

// key hashes every input of the image.
func (c content) key(o *Options, s spec, ref string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%q\x00%q\x00%s\x00", recipeVersion, ref, o.Version, o.GOARCH, s.user, s.cmd, s.description, c.busybox)
	for _, part := range [][]byte{c.binary, c.caBundle, []byte(strings.Join(c.applets, "\n"))} {
		sum := sha256.Sum256(part)
		h.Write(sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// busyboxApplets asks busybox where its applets belong ("bin/sh",
// "usr/bin/wget", ...), so that the image has the same layout as a Debian
// install and `/bin/sleep`, `/bin/cat`, `/bin/ls` exist as the documentation
// uses them.
func busyboxApplets(path string) (applets []string, banner string, err error) {
	out, err := exec.Command(path, "--list-full").Output()
	if err != nil {
		return nil, "", fmt.Errorf("%s --list-full: %w (is it Debian's busybox-static?)", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if a := strings.TrimSpace(sc.Text()); a != "" && a != "bin/busybox" {
			applets = append(applets, a)
		}
	}
	if len(applets) == 0 {
		return nil, "", fmt.Errorf("%s --list-full listed no applets", path)
	}
	// busybox without arguments prints its banner and exits non-zero.
	help, _ := exec.Command(path).CombinedOutput()
	banner, _, _ = strings.Cut(string(help), "\n")
	return applets, strings.TrimSpace(banner), nil
}

// assemble builds the one-layer image.
func (o *Options) assemble(s spec, ref string, c content) (v1.Image, error) {
	t := baseTree()
	if s.busybox {
		t.file("/bin/busybox", 0o755, c.binary)
		for _, a := range c.applets {
			t.symlink("/"+a, "/bin/busybox")
		}
	} else {
		t.file("/"+s.name, 0o755, c.binary)
	}
	if c.caBundle != nil {
		t.file(caBundlePathInImage, 0o644, c.caBundle)
	}
	base := empty.Image
	var layerOpts []tarball.LayerOption
	if o.oci {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		layerOpts = append(layerOpts, tarball.WithMediaType(types.OCILayer))
	}
	layer, err := t.layer(layerOpts...)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{CreatedBy: recipeVersion + " " + s.name, Created: v1.Time{Time: epoch}},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.GOARCH
	cf.Created = v1.Time{Time: epoch}
	tagVersion := ref[strings.LastIndex(ref, ":")+1:]
	labels := map[string]string{
		LabelTitle:       s.name,
		LabelDescription: s.description,
		LabelVersion:     tagVersion,
		LabelSource:      sourceURL,
		LabelBuild:       o.Version,
	}
	if c.busybox != "" {
		labels["io.kvcsi.busybox"] = c.busybox
	}
	cf.Config = v1.Config{
		Entrypoint: s.entrypoint(),
		Cmd:        s.cmd,
		User:       s.user,
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels:     labels,
	}
	return mutate.ConfigFile(img, cf)
}

// baseTree holds what every image needs besides its program: users for
// `User` to resolve, a sticky /tmp, and a name-service order that reads
// /etc/hosts (where the kubelet writes hostAliases) before DNS.
func baseTree() *fileTree {
	t := newFileTree()
	t.file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
	t.file("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\nnonroot:x:65532:\n"))
	t.file("/etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n"))
	t.dir("/tmp", 0o1777, 0, 0)
	t.dir("/root", 0o700, 0, 0)
	t.dir("/home/nonroot", 0o700, 65532, 65532)
	return t
}

func readInputs(tarPath string) (inputs, bool) {
	if _, err := os.Stat(tarPath); err != nil {
		return inputs{}, false
	}
	data, err := os.ReadFile(tarPath + ".inputs")
	if err != nil {
		return inputs{}, false
	}
	var in inputs
	if json.Unmarshal(data, &in) != nil || in.Key == "" {
		return inputs{}, false
	}
	return in, true
}

// writeAtomic writes path through a temporary file and a rename, so that a
// reader (containerd import, kind load) never sees half a tarball.
func writeAtomic(path string, write func(*os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		f.Close()
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

var errNoManifest = errors.New("no manifest")
