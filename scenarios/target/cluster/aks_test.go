package cluster

import (
	"strings"
	"testing"
)

// On aks, an identity scenario whose prerequisites are not declared is
// skipped naming what is missing; declared ones run.
func TestAKSIdentityScenariosNeedDeclaredPrerequisites(t *testing.T) {
	none := aksMissing(func(string) string { return "" })
	for _, sc := range []string{"identity/workload-identity", "identity/service-principal", "identity/no-access",
		"identity/system-assigned-managed-identity", "identity/pod-identity"} {
		if none[sc] == "" {
			t.Errorf("%s runs without its prerequisites", sc)
		}
	}
	if !strings.Contains(none["identity/service-principal"], "KVCSI_AKS_SP_CLIENT_ID") || !strings.Contains(none["identity/service-principal"], "KVCSI_AKS_SP_CLIENT_SECRET") {
		t.Errorf("service-principal: %q does not name both variables", none["identity/service-principal"])
	}
	if _, ok := none["identity/user-assigned-managed-identity"]; ok {
		t.Error("user-assigned-managed-identity is skipped although KVCSI_AKS_CLIENT_ID is required by the target")
	}
	env := map[string]string{
		"KVCSI_AKS_WORKLOAD_CLIENT_ID": "w", "KVCSI_AKS_SP_CLIENT_ID": "s", "KVCSI_AKS_SP_CLIENT_SECRET": "x",
		"KVCSI_AKS_NO_ACCESS_CLIENT_ID": "n", "KVCSI_AKS_SYSTEM_ASSIGNED_IDENTITY": "yes", "KVCSI_AKS_POD_IDENTITY": "true",
	}
	got := aksMissing(func(k string) string { return env[k] })
	if len(got) != 1 || !strings.Contains(got["identity/system-assigned-managed-identity"], "KVCSI_AKS_SYSTEM_ASSIGNED_IDENTITY") {
		t.Errorf("with everything declared (system-assigned as %q, not true): missing = %v", env["KVCSI_AKS_SYSTEM_ASSIGNED_IDENTITY"], got)
	}
	for _, m := range got {
		if strings.Contains(m, "x") && strings.Contains(m, "=x") {
			t.Errorf("a value leaked into the skip message: %q", m)
		}
	}
}
