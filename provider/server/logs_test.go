package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/server"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsCarryNoSecrets logs at debug level through successful and failing
// Mounts of every kind and checks that no secret value, client secret or
// token appears.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, server.Config{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tok := e.saToken(t, "default", "workload-identity-sa")
	tokens := mustJSON(map[string]any{"api://AzureADTokenExchange": map[string]string{"token": tok, "expirationTimestamp": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	obj := objs("objectName: db-password; objectType: secret", "objectName: hexed; objectType: secret; objectEncoding: hex")
	calls := []struct {
		attrs   map[string]string
		secrets map[string]string
	}{
		{e.attrs(obj), spSecrets(readerID, readerSecret)},
		{e.attrs(obj), spSecrets(readerID, "wrong-"+readerSecret)},
		{e.attrs(obj), spSecrets(outsiderID, outsiderSecret)},
		{e.attrs(obj, "clientID", workloadID, "csi.storage.k8s.io/serviceAccount.tokens", tokens), nil},
		{e.attrs(objs("objectName: db-password; objectType: secret; objectEncoding: base64")), spSecrets(readerID, readerSecret)},
		{e.attrs(obj, "usePodIdentity", "bogus"), spSecrets(readerID, readerSecret)},
	}
	for _, c := range calls {
		e.mount(context.Background(), c.attrs, c.secrets)
	}
	logs := buf.String()
	if !strings.Contains(logs, `"msg":"mount"`) {
		t.Fatalf("no mount log lines: %s", logs)
	}
	for _, secret := range []string{"second-password", "68656c6c6f2d686578", "hello-hex", readerSecret, outsiderSecret, tok, strings.Split(tok, ".")[1]} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}
