package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestFlagDefaultsAreUpstreams(t *testing.T) {
	f, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := flags{
		endpoint: "unix:///tmp/azure.sock", constructPEMChain: true, healthzPort: 8989, healthzPath: "/healthz",
		healthzTimeout: 5 * time.Second, prometheusPort: 8898, cloudName: "AzurePublicCloud",
		cacheTTL: 10 * time.Second, nmiEndpoint: "http://localhost:2579",
	}
	if *f != want {
		t.Fatalf("defaults = %+v\nwant       %+v", *f, want)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--healthz-port", "70000"}, "--healthz-port 70000 is not a port"},
		{[]string{"--cache-ttl", "-1s"}, "--cache-ttl -1s is negative"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--no-such-flag"}, "not defined"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.msg)
		}
	}
	f, err := parseFlags([]string{"--endpoint=unix:///provider/azure.sock", "--construct-pem-chain=false", "--write-cert-and-key-in-separate-files", "--ca-bundle=/ca.pem", "--cache-ttl=0"})
	if err != nil || f.constructPEMChain || !f.separateFiles || f.caBundle != "/ca.pem" || f.cacheTTL != 0 || f.endpoint != "unix:///provider/azure.sock" {
		t.Fatalf("parsed %+v, %v", f, err)
	}
}

func TestCABundleMustHoldCertificates(t *testing.T) {
	p := t.TempDir() + "/ca.pem"
	if err := writeFile(p, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	err := realMain([]string{"--ca-bundle", p, "--endpoint", "unix://" + t.TempDir() + "/a.sock"})
	if err == nil || !strings.Contains(err.Error(), "--ca-bundle") {
		t.Fatalf("err = %v", err)
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
