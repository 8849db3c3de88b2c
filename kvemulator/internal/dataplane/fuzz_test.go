package dataplane

import (
	"errors"
	"net/http"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
)

// FuzzDecodeSetSecret fuzzes the request decoder and the set-secret
// validation: every input is either accepted within the limits or refused
// with a 400 BadParameter — never a panic or another status.
func FuzzDecodeSetSecret(f *testing.F) {
	for _, s := range []string{`{"value":"x"}`, `{"value":"","contentType":"text/plain","tags":{"a":"b"},"attributes":{"enabled":false,"exp":1}}`, `{"value":`, `[]`, `null`, `{"value":5}`, ``, `{"tags":{"a":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req setSecretRequest
		err := decodeBody(body, &req)
		if err == nil {
			err = req.validate()
		}
		if err != nil {
			var ae *kverr.APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "BadParameter" {
				t.Fatalf("error %v is not a 400 BadParameter", err)
			}
			return
		}
		if req.Value == nil || len(*req.Value) > MaxSecretBytes || len(req.Tags) > 15 {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
	})
}
