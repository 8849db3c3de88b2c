package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/scenarios"
)

func TestListPrintsEveryScenario(t *testing.T) {
	var out bytes.Buffer
	if err := runScenarios(context.Background(), []string{"list"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios.Catalogue() {
		if !strings.Contains(out.String(), s.Name) {
			t.Errorf("list lacks %s", s.Name)
		}
	}
	out.Reset()
	if err := runScenarios(context.Background(), []string{"list", "--markdown"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "| # | Scenario |") {
		t.Errorf("list --markdown = %.80q", out.String())
	}
}

func TestRunRejectsBadFlagsBeforeStartingAnything(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--run", "("}, "--run \"(\" is not a regular expression"},
		{[]string{"run", "--run", "^nothing-matches$"}, "matches no scenario"},
		{[]string{"run", "--target", "gke"}, "--target \"gke\": use local, kind or aks"},
		{[]string{"run", "--timeout", "0s"}, "--timeout 0s must be positive"},
		{[]string{"run", "extra"}, "unexpected argument \"extra\""},
		{[]string{"walk"}, "unknown scenarios command \"walk\""},
	} {
		err := runScenarios(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func TestAKSWithoutEnvironmentIsSkippedSayingWhatToSet(t *testing.T) {
	for _, v := range []string{"KVCSI_AKS_KEYVAULT_NAME", "AZURE_TENANT_ID", "KVCSI_AKS_CLIENT_ID"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	var out bytes.Buffer
	if err := runScenarios(context.Background(), []string{"run", "--target", "aks", "--report", ""}, &out); err != nil {
		t.Fatalf("aks without environment: %v", err)
	}
	if !strings.Contains(out.String(), "skipped: set KVCSI_AKS_KEYVAULT_NAME, AZURE_TENANT_ID") || !strings.Contains(out.String(), "to run on aks") {
		t.Errorf("output = %q", out.String())
	}
}

func TestScenariosHelp(t *testing.T) {
	var out bytes.Buffer
	if err := runScenarios(context.Background(), []string{"run", "-h"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "-target") || !strings.Contains(out.String(), "-report") {
		t.Errorf("help = %q", out.String())
	}
}
