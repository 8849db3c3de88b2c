// Package events sends the driver's Kubernetes events. One broadcaster serves every component
// name the upstream driver uses as event source, so users' `kubectl get events` filters keep
// working: csi-secrets-store-controller for secret sync, csi-secrets-store-rotation for rotation.
package events

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Event sources, as upstream names them.
const (
	SourceSecretSync = "csi-secrets-store-controller"
	SourceRotation   = "csi-secrets-store-rotation"
	// SourceDriver is kvcsi's source for warnings about a mount: dropped
	// reserved keys and provider warnings (upstream sends none there).
	SourceDriver = "secrets-store-csi-driver"
)

// Broadcaster writes events to the API server. Events are aggregated and rate limited by
// client-go's correlator, so a failing rotation cannot flood the API server.
type Broadcaster struct {
	b record.EventBroadcaster
}

// New starts sending events through client.
func New(client kubernetes.Interface) *Broadcaster {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return &Broadcaster{b: b}
}

// Recorder returns a recorder whose events carry component as their source.
func (b *Broadcaster) Recorder(component string) record.EventRecorder {
	return b.b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// Shutdown flushes nothing further and stops the broadcaster's goroutines.
func (b *Broadcaster) Shutdown() { b.b.Shutdown() }
