//go:build linux

package tmpfs

import (
	"bytes"
	"strconv"
	"strings"
)

func splitLines(b []byte) []string {
	var out []string
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		if len(l) > 0 {
			out = append(out, string(l))
		}
	}
	return out
}

func fields(s string) []string { return strings.Fields(s) }

// unescape decodes the octal escapes (\040 for space) of /proc mount paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
