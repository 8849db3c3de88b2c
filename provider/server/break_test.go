package server

import (
	"errors"
	"testing"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
)

// TestBrokenSkipFailed: off by default; broken, a failed object's result is
// emptied and the others kept in place.
func TestBrokenSkipFailed(t *testing.T) {
	ok := objectResult{files: []*v1alpha1.File{{Path: "a"}}}
	in := []objectResult{ok, {err: errors.New("403")}}
	if got := brokenSkipFailed(in); got[1].err == nil {
		t.Fatal("the hook is on without " + BreakSkipFailedObjectsEnv)
	}
	breakSkipFailedObjects = true
	defer func() { breakSkipFailedObjects = false }()
	got := brokenSkipFailed(in)
	if len(got) != 2 || got[0].files[0].Path != "a" || got[1].err != nil || len(got[1].files) != 0 {
		t.Fatalf("brokenSkipFailed = %+v", got)
	}
}
