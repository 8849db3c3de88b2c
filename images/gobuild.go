package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries returns the static binary for every Go image in specs: the
// caller's prebuilt one from Options.Binaries, or one built here with
// CGO_ENABLED=0 go build -trimpath into <OutDir>/.bin. All packages are built
// by one go command, so the go build cache does the incremental work.
func (o *Options) binaries(ctx context.Context, specs []spec) (map[string]string, error) {
	bins := map[string]string{}
	var pkgs []string
	for _, s := range specs {
		if !s.goBinary() {
			continue
		}
		if p := o.Binaries[s.name]; p != "" {
			bins[s.name] = p
			continue
		}
		pkgs = append(pkgs, "./cmd/"+s.name)
		bins[s.name] = filepath.Join(o.binDir(), s.name)
	}
	if len(pkgs) == 0 {
		return bins, nil
	}
	if err := os.MkdirAll(o.binDir(), 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	goCmd, err := o.goCommand()
	if err != nil {
		return nil, err
	}
	args := []string{"build", "-trimpath",
		"-ldflags", "-s -w -X github.com/kvcsi/kvcsi/internal/buildinfo.Version=" + o.Version,
		"-o", o.binDir() + string(filepath.Separator)}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = o.RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.GOARCH)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	o.Logf("images: go build %s", strings.Join(pkgs, " "))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("images: go build %s: %w\n%s", strings.Join(pkgs, " "), err, strings.TrimSpace(stderr.String()))
	}
	return bins, nil
}

func (o *Options) binDir() string { return filepath.Join(o.OutDir, ".bin", o.GOARCH) }

func (o *Options) goCommand() (string, error) {
	if o.Go != "" {
		return o.Go, nil
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	candidates := []string{"/usr/local/go/bin/go"}
	if root := os.Getenv("GOROOT"); root != "" {
		candidates = append([]string{filepath.Join(root, "bin", "go")}, candidates...)
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("images: no go command in PATH, $GOROOT/bin or /usr/local/go/bin; install Go or set Options.Go")
}
