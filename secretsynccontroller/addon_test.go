package secretsynccontroller_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/addon"
)

// TestAddonDisableRefusesWhileSecretSyncsExist: kvcsi addon disable changes
// nothing and names the SecretSync while one exists.
func TestAddonDisableRefusesWhileSecretSyncsExist(t *testing.T) {
	w := newWorld(t)
	w.createSync(t, syncManifest("keep-me", "azure-sync", ""))
	m, err := addon.NewManager(w.rest, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Disable(context.Background(), addon.DisableOptions{})
	if !errors.Is(err, addon.ErrSecretSyncsExist) {
		t.Fatalf("Disable: %v, want ErrSecretSyncsExist", err)
	}
	if !strings.Contains(err.Error(), w.ns+"/keep-me") {
		t.Errorf("refusal %q does not name the SecretSync", err)
	}
	w.getSync(t, "keep-me") // still there
}
