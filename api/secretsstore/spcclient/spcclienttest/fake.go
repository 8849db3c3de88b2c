// Package spcclienttest gives unit tests an spcclient.Client backed by client-go's dynamic fake,
// so the fake never compiles into a binary. Integration tests use a real kube-apiserver.
package spcclienttest

import (
	"fmt"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// NewFake returns a Client backed by an in-memory dynamic fake holding objs (typed v1 objects).
func NewFake(objs ...runtime.Object) (*spcclient.Client, *dynamicfake.FakeDynamicClient, error) {
	s := spcclient.Scheme()
	us := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, nil, fmt.Errorf("fake: %w", err)
		}
		u := &unstructured.Unstructured{Object: m}
		gvks, _, err := s.ObjectKinds(o)
		if err != nil {
			return nil, nil, fmt.Errorf("fake: %w", err)
		}
		u.SetGroupVersionKind(gvks[0])
		us = append(us, u)
	}
	// The fake's tracker must see only unstructured kinds: with the typed
	// kinds registered it tries to convert unstructured items into them.
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), spcclient.ListKinds(), us...)
	return spcclient.New(dyn), dyn, nil
}
