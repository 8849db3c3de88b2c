package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// TestFlagDefaultsAreUpstreams checks every flag of upstream's driver (recorded from upstream's
// source in testdata/upstream-flags.txt) exists here with upstream's default, so upstream's
// manifests and Helm values start kvcsi unchanged.
func TestFlagDefaultsAreUpstreams(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	bindFlags(fs)
	b, err := os.ReadFile("testdata/upstream-flags.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, def, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("testdata line %q: want name<TAB>default", line)
		}
		n++
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("upstream flag --%s is missing", name)
			continue
		}
		if f.DefValue != def {
			t.Errorf("--%s default %q, upstream's %q", name, f.DefValue, def)
		}
	}
	if n < 29 {
		t.Fatalf("only %d upstream flags recorded", n)
	}
}

func TestPprofOnLocalhostOnly(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{{nil, ""}, {[]string{"--enable-pprof"}, "localhost:6065"}, {[]string{"--enable-pprof", "--pprof-port=7000"}, "localhost:7000"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o := bindFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if got := o.pprofAddr(); got != tt.want {
			t.Errorf("%v: pprof address %q, want %q", tt.args, got, tt.want)
		}
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
		{[]string{"--nodeid=n", "--enable-pprof", "--pprof-port=70000"}, "--pprof-port 70000 is not a port"},
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
