package spcclient

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// NewFake returns a Client backed by an in-memory dynamic fake holding objs
// (typed v1 objects). It is for unit tests only; integration tests use a
// real kube-apiserver.
func NewFake(objs ...runtime.Object) (*Client, *dynamicfake.FakeDynamicClient, error) {
	s := Scheme()
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
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), ListKinds(), us...)
	return New(dyn), dyn, nil
}
