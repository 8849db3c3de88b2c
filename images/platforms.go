package images

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPlatforms are the architectures Push builds by default: what AKS
// node pools run.
var DefaultPlatforms = []string{"amd64", "arm64"}

// completePlatforms normalises Options.Platforms ("linux/arm64" → "arm64"),
// sorted so that the index, and so its digest, does not depend on the order
// they were given in.
func (o *Options) completePlatforms() error {
	if len(o.Platforms) == 0 {
		return nil
	}
	var archs []string
	for _, p := range o.Platforms {
		arch := strings.TrimPrefix(strings.TrimSpace(p), "linux/")
		if _, ok := elfMachines[arch]; !ok || strings.Contains(arch, "/") {
			return fmt.Errorf("images: Platforms: %q is not a supported linux architecture (e.g. amd64, arm64)", p)
		}
		if !slices.Contains(archs, arch) {
			archs = append(archs, arch)
		}
	}
	slices.Sort(archs)
	o.Platforms = archs
	if len(o.Binaries) > 0 {
		return fmt.Errorf("images: Binaries cannot be used with Platforms (the binaries are cross-compiled per platform)")
	}
	if slices.Contains(o.Only, "busybox") {
		return fmt.Errorf("images: busybox cannot be built for Platforms: it carries the host's busybox-static, which is not cross-compiled")
	}
	o.oci = true
	return nil
}

// buildIndexes builds every spec for every platform through the same recipe
// (collect, assemble) as the tarballs, and puts the per-platform images in
// one OCI image index per image.
func (o *Options) buildIndexes(ctx context.Context, specs []spec) ([]Image, error) {
	specs = slices.DeleteFunc(slices.Clone(specs), func(s spec) bool {
		if s.busybox {
			o.Logf("images: skipping busybox: it carries the host's busybox-static and cannot be built for %s", strings.Join(o.Platforms, ", "))
		}
		return s.busybox
	})
	perArch := map[string]Options{}
	bins := map[string]map[string]string{}
	for _, arch := range o.Platforms {
		po := *o
		po.GOARCH = arch
		b, err := po.binaries(ctx, specs)
		if err != nil {
			return nil, err
		}
		perArch[arch], bins[arch] = po, b
	}
	out := make([]Image, 0, len(specs))
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ref := s.ref(o.Version)
		var adds []mutate.IndexAddendum
		for _, arch := range o.Platforms {
			po := perArch[arch]
			c, err := po.collect(s, bins[arch][s.name])
			if err != nil {
				return nil, fmt.Errorf("images: %s (linux/%s): %w", s.name, arch, err)
			}
			img, err := po.assemble(s, ref, c)
			if err != nil {
				return nil, fmt.Errorf("images: %s (linux/%s): %w", s.name, arch, err)
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: "linux", Architecture: arch},
			}})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		dig, err := idx.Digest()
		if err != nil {
			return nil, fmt.Errorf("images: %s: %w", s.name, err)
		}
		o.Logf("images: built %s for %s (%s)", ref, strings.Join(o.Platforms, ", "), dig)
		out = append(out, Image{Name: s.name, Ref: ref, Digest: dig.String(), Index: idx})
	}
	return out, nil
}
