package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/doctor"
)

func emptyCluster(string, string) (doctor.Clients, error) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		ssv1.SecretProviderClassesResource:          "SecretProviderClassList",
		ssv1.SecretProviderClassPodStatusesResource: "SecretProviderClassPodStatusList",
	})
	return doctor.Clients{Kube: fake.NewClientset(), SPC: spcclient.New(dyn)}, nil
}

func TestDoctorArgs(t *testing.T) {
	for _, args := range [][]string{nil, {"pod"}, {"pod", "noslash"}, {"node", "a/b"}, {"volume", "x"}, {"-o", "yaml", "node", "n"}} {
		var out, errb bytes.Buffer
		if err := runDoctor(context.Background(), args, &out, &errb, emptyCluster); err == nil || errors.Is(err, errChecksFailed) {
			t.Errorf("doctor %q: err %v, want a usage error", args, err)
		}
	}
}

func TestDoctorFailedCheckExitsNonZeroInBothFormats(t *testing.T) {
	var out, errb bytes.Buffer
	err := runDoctor(context.Background(), []string{"pod", "app/web"}, &out, &errb, emptyCluster)
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("missing pod: err %v, want errChecksFailed", err)
	}
	if !strings.Contains(out.String(), "✗") || !strings.Contains(out.String(), "does not exist") {
		t.Errorf("table lacks the failed check:\n%s", out.String())
	}
	out.Reset()
	err = runDoctor(context.Background(), []string{"class", "app/kv", "-o", "json"}, &out, &errb, emptyCluster)
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("missing class: err %v", err)
	}
	var r doctor.Report
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil || !r.Failed() {
		t.Errorf("-o json: %v, failed %v:\n%s", jerr, r.Failed(), out.String())
	}
}

func TestDoctorWideNamesPermissions(t *testing.T) {
	var out, errb bytes.Buffer
	_ = runDoctor(context.Background(), []string{"-o", "wide", "pod", "app/web"}, &out, &errb, emptyCluster)
	if !strings.Contains(out.String(), "needs: get pods in app") {
		t.Errorf("-o wide does not name the permission:\n%s", out.String())
	}
}
