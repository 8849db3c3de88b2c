package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLineNamesElapsedAndRemaining(t *testing.T) {
	got := progressLine(90*time.Second+300*time.Millisecond, func() ([]string, error) {
		return []string{"kubelet", "etcd"}, nil
	})
	for _, want := range []string{"1m30s", "kubelet, etcd"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
}

func TestReportProgressPrintsUntilDone(t *testing.T) {
	done := make(chan struct{})
	var buf bytes.Buffer
	calls := 0
	finished := make(chan struct{})
	go func() {
		reportProgress(done, time.Now(), time.Millisecond, func() ([]string, error) {
			calls++
			if calls == 3 {
				close(done)
			}
			return []string{"kube-apiserver"}, nil
		}, &buf)
		close(finished)
	}()
	<-finished
	if n := strings.Count(buf.String(), "remaining: kube-apiserver"); n < 3 {
		t.Errorf("printed %d progress lines before done, want 3:\n%s", n, buf.String())
	}
}
