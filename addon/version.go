package addon

import (
	"strings"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
)

// DefaultImageTag is the version of this kvcsi binary, so that `kvcsi addon
// enable` installs the images `make images` built alongside it. A version that
// is no valid tag ("(devel)", a dirty describe with '+') is made one.
func DefaultImageTag() string { return ImageTagOf(buildinfo.Version) }

// ImageTagOf is the image tag of kvcsi version v: v itself when it is a
// valid tag (make's VERSION, the chart's appVersion, always is).
func ImageTagOf(v string) string {
	v = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, v)
	v = strings.TrimLeft(v, ".-")
	if v == "" {
		return "dev"
	}
	return v
}
