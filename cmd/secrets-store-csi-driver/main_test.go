package main

import (
	"flag"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

func TestFlagDefaultsAreUpstreams(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	bindFlags(fs)
	want := map[string]string{
		"endpoint":                         "unix://tmp/csi.sock",
		"drivername":                       "secrets-store.csi.k8s.io",
		"provider-volume":                  "/var/run/secrets-store-csi-providers",
		"additional-provider-volume-paths": "/etc/kubernetes/secrets-store-csi-providers",
		"metrics-addr":                     ":8095",
		"enable-secret-rotation":           "false",
		"rotation-poll-interval":           "2m0s",
		"max-call-recv-msg-size":           "4194304",
		"provider-health-check":            "false",
		"provider-health-check-interval":   "2m0s",
		"log-format-json":                  "false",
		"nodeid":                           "",
		"version":                          "false",
		"kubeconfig":                       "",
	}
	for name, def := range want {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("flag --%s is missing", name)
			continue
		}
		if f.DefValue != def {
			t.Errorf("--%s default %q, want %q", name, f.DefValue, def)
		}
	}
	if fs.Lookup("v") == nil {
		t.Error("klog's -v is not bound")
	}
}

func TestFlagValidation(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--nodeid is required"},
		{[]string{"--nodeid=n", "--endpoint=tcp://x"}, "only unix:// endpoints"},
		{[]string{"--nodeid=n", "--rotation-poll-interval=-1s"}, "--rotation-poll-interval -1s must be positive"},
		{[]string{"--nodeid=n", "--max-call-recv-msg-size=0"}, "--max-call-recv-msg-size 0 must be positive"},
		{[]string{"--nodeid=n", "--provider-volume="}, "--provider-volume is empty"},
		{[]string{"--nodeid=n", "--kubeconfig=/nonexistent/kubeconfig"}, "--kubeconfig /nonexistent/kubeconfig"},
	}
	for _, tt := range tests {
		err := realMain(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("realMain(%v) = %v, want error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestProviderDirsAdditionalFirst(t *testing.T) {
	o := &options{providerVolume: "/provider", additionalProviderPaths: " /a, /b ,,"}
	if got := strings.Join(o.providerDirs(), ","); got != "/a,/b,/provider" {
		t.Fatalf("providerDirs = %s", got)
	}
}

// TestLoggersDoNotRecurse logs through the returned logger and through
// klog in both formats; wiring klog's own logger back into klog would
// overflow the stack here.
func TestLoggersDoNotRecurse(t *testing.T) {
	for _, args := range [][]string{{}, {"--log-format-json", "-v=3"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o := bindFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		l := newLogger(o, fs)
		l.Info("logger works", "args", args)
		l.V(3).Info("verbose works")
		klog.InfoS("klog works", "args", args)
		klog.ClearLogger()
	}
}
