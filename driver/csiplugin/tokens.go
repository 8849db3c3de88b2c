package csiplugin

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TokenRequestsFromCSIDriver returns a Config.KubeletSetsTokens that reads
// the CSIDriver driverName: kubelet writes the service-account tokens into
// the volume context exactly when its spec.tokenRequests is not empty. The
// answer is cached for ttl, so a publish storm reads the CSIDriver once; a
// CSIDriver that does not exist sets no tokens.
func TokenRequestsFromCSIDriver(kube kubernetes.Interface, driverName string, ttl time.Duration) func(context.Context) (bool, error) {
	var (
		mu      sync.Mutex
		at      time.Time
		has     bool
		lastErr error
	)
	return func(ctx context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < ttl {
			return has, lastErr
		}
		d, err := kube.StorageV1().CSIDrivers().Get(ctx, driverName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			has, lastErr = false, nil
		case err != nil:
			hint := ""
			if apierrors.IsForbidden(err) {
				hint = " (grant the driver's ClusterRole get on storage.k8s.io csidrivers " + driverName + ")"
			}
			has, lastErr = false, fmt.Errorf("read CSIDriver %s for its tokenRequests%s: %w", driverName, hint, err)
		default:
			has, lastErr = len(d.Spec.TokenRequests) > 0, nil
		}
		at = time.Now()
		return has, lastErr
	}
}
