package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/images"
)

func TestImagesPushFlags(t *testing.T) {
	var got images.PushOptions
	fake := func(_ context.Context, o images.PushOptions) ([]images.Pushed, error) {
		got = o
		return []images.Pushed{{Name: "kvemulator", Ref: o.Registry + "/kvemulator:v1.0.0", Digest: "sha256:ab"}}, nil
	}
	var stdout, stderr bytes.Buffer
	err := runImages(context.Background(), []string{"push", "--registry", "myacr.azurecr.io/kvcsi", "--version", "v1.0.0",
		"--only", "kvemulator, pause", "--platforms", "arm64", "--no-chart", "-q"}, &stdout, &stderr, fake)
	if err != nil {
		t.Fatal(err)
	}
	if got.Registry != "myacr.azurecr.io/kvcsi" || got.Version != "v1.0.0" || !got.NoChart ||
		!slices.Equal(got.Only, []string{"kvemulator", "pause"}) || !slices.Equal(got.Platforms, []string{"arm64"}) {
		t.Errorf("PushOptions = %+v", got)
	}
	if strings.TrimSpace(stdout.String()) != "myacr.azurecr.io/kvcsi/kvemulator:v1.0.0" {
		t.Errorf("stdout %q", stdout.String())
	}

	// Defaults: both AKS architectures, the chart.
	if err := runImages(context.Background(), []string{"push", "--registry", "r.example/k"}, &stdout, &stderr, fake); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Platforms, []string{"amd64", "arm64"}) || got.NoChart || got.Only != nil {
		t.Errorf("default PushOptions = %+v", got)
	}

	for _, args := range [][]string{nil, {"pull"}, {"push"}, {"push", "--registry", "r.example/k", "extra"}} {
		called := false
		err := runImages(context.Background(), args, &stdout, &stderr, func(context.Context, images.PushOptions) ([]images.Pushed, error) {
			called = true
			return nil, nil
		})
		if err == nil || called {
			t.Errorf("kvcsi images %q: err %v, pushed %v; want an error before pushing", args, err, called)
		}
	}
}
