package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// ManifestFile is the name of the manifest Build writes into OutDir. It lists
// every tarball built so far (merged across Builds with different Only) and
// the images skipped because their source is missing. `make e2e` reads it to
// `kind load image-archive` each tarball.
const ManifestFile = "images.json"

// Manifest is the content of ManifestFile.
type Manifest struct {
	// Version is the Options.Version of the latest Build; entries built by
	// earlier Builds may carry another (see each Ref).
	Version string  `json:"version"`
	Images  []Image `json:"images"`
	// Missing lists images not built because ./cmd/<name> is not in the tree.
	Missing []string `json:"missing,omitempty"`
}

// ReadManifest reads OutDir's manifest.
func ReadManifest(outDir string) (Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(outDir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("%w in %s: run make images", errNoManifest, outDir)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(outDir, ManifestFile), err)
	}
	return m, nil
}

// writeManifest merges built into the existing manifest: entries of images
// not built this time are kept while their tarball is still the one the entry
// describes (a Build with another Version may have replaced it).
func writeManifest(outDir, version string, built []Image, missing []string) error {
	old, _ := ReadManifest(outDir)
	m := Manifest{Version: version, Missing: missing}
	byName := map[string]Image{}
	for _, img := range old.Images {
		if in, ok := readInputs(img.Path); ok && in.Ref == img.Ref && in.ID == img.ID {
			byName[img.Name] = img
		}
	}
	for _, img := range built {
		byName[img.Name] = img
		m.Missing = slices.DeleteFunc(m.Missing, func(n string) bool { return n == img.Name })
	}
	for _, n := range Names() {
		if img, ok := byName[n]; ok {
			m.Images = append(m.Images, img)
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return writeAtomic(filepath.Join(outDir, ManifestFile), func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}
