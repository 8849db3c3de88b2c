package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRealMainServesAndStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- realMain(ctx, []string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
			"--seed", "../../kvemulator/testdata/seed.yaml", "--tls-dir", dir, "--state-dir", filepath.Join(dir, "state")}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var out []string
	admin := ""
	for sc.Scan() {
		line := sc.Text()
		out = append(out, line)
		if a, ok := strings.CutPrefix(line, "admin: "); ok {
			admin = a
			break
		}
	}
	go io.Copy(io.Discard, pr)
	text := strings.Join(out, "\n")
	for _, want := range []string{"vault kv1: https://kv1.vault.kvcsi.test:", "CA: " + filepath.Join(dir, "ca.crt")} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	resp, err := http.Get(admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "state.json")); err != nil {
		t.Fatalf("state not written on stop: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--log-level", "loud"},
		{"--admin-addr", "0.0.0.0:0"},
		{"--seed", "/nonexistent/seed.yaml"},
		{"stray"},
	} {
		if err := realMain(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}
