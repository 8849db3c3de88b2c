package sidecar

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f := NewFlags("x")
	f.SetOutput(io.Discard)
	if _, err := f.Parse([]string{"extra"}); err == nil || !strings.Contains(err.Error(), `unexpected arguments ["extra"]`) {
		t.Errorf("stray argument: err = %v", err)
	}
	f = NewFlags("x")
	if done, err := f.Parse([]string{"--version"}); !done || err != nil {
		t.Errorf("--version: done %v, err %v", done, err)
	}
	f = NewFlags("x")
	if done, err := f.Parse([]string{"-v", "4"}); done || err != nil {
		t.Errorf("klog's -v: done %v, err %v", done, err)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", "--http-endpoint")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	}()
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("body %q", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
}

func TestListenErrorNamesTheFlags(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", "--health-port")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Listen(ln.Addr().String(), "--health-port/--http-endpoint"); err == nil || !strings.Contains(err.Error(), "--health-port/--http-endpoint") {
		t.Errorf("listening on a taken address: err = %v, want one naming the flags", err)
	}
}
