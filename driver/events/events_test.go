package events

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRecorderSource checks events reach the API with the upstream source component, on the pod.
func TestRecorderSource(t *testing.T) {
	client := fake.NewClientset()
	b := New(client)
	defer b.Shutdown()
	pod := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web-1", Namespace: "apps", UID: "uid-1"}
	b.Recorder(SourceRotation).Event(pod, corev1.EventTypeNormal, "MountRotationComplete", "rotated")
	var got *corev1.Event
	// The broadcaster writes asynchronously; the limit only keeps a broken test from hanging.
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := client.CoreV1().Events("apps").List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) == 0 {
			return false, err
		}
		got = &l.Items[0]
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Source.Component != "csi-secrets-store-rotation" || got.Reason != "MountRotationComplete" || got.InvolvedObject.UID != "uid-1" {
		t.Errorf("event = source %q reason %q object %+v", got.Source.Component, got.Reason, got.InvolvedObject)
	}
}
