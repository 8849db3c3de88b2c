package main

import (
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	if err := run([]string{"--version"}); err != nil {
		t.Errorf("--version: %v", err)
	}
	err := run([]string{"--rotation-poll-interval=-1s"})
	if err == nil || !strings.Contains(err.Error(), "--rotation-poll-interval") {
		t.Errorf("a negative interval: %v, want an error naming the flag", err)
	}
	// Every upstream flag is accepted (the kubeconfig that does not exist
	// fails after parsing, naming the configuration).
	err = run([]string{"--token-request-audience=a,b", "--provider-volume=/p", "--rotation-poll-interval=0",
		"--max-call-recv-msg-size=1", "--metrics-bind-address=:0", "--health-probe-bind-address=:0", "--leader-elect",
		"--kubeconfig=/does/not/exist"})
	if err == nil || !strings.Contains(err.Error(), "kubernetes client configuration") {
		t.Errorf("upstream flags: %v, want only the missing kubeconfig to fail", err)
	}
}
