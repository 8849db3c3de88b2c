package local

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/scenarios"
)

var _ scenarios.LeakSources = (*Target)(nil)

// PodLogsDir is where the kubelet writes container logs (localcluster's
// podLogsDir).
const PodLogsDir = "/var/log/pods"

// ComponentLogs returns every log of the components the local target runs:
// the cluster's processes (RunDir/logs: kube-apiserver, etcd,
// kube-controller-manager, kube-scheduler, kubelet, containerd, and the
// in-process emulator's kvemulator.log) and the containers of the add-on's
// namespace (driver, provider, registrar, livenessprobe). Workload pods'
// logs are the workloads' business and are not read.
func (t *Target) ComponentLogs(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(root string, keep func(rel string) bool) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == root {
					return nil
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if !keep(rel) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = b
			return nil
		})
	}
	if err := add(filepath.Join(t.Cluster.RunDir(), "logs"), func(string) bool { return true }); err != nil {
		return nil, err
	}
	// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log
	if err := add(PodLogsDir, func(rel string) bool {
		return strings.HasPrefix(rel, addon.Namespace+"_") && strings.HasSuffix(rel, ".log")
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// Secrets returns every secret value the emulator's vaults hold (every
// version, deleted ones too) and every client secret of its identities.
func (t *Target) Secrets(ctx context.Context) ([]string, error) {
	st, err := t.Emulator.Admin().Snapshot()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range st.Identities {
		out = append(out, id.Secrets...)
	}
	for _, v := range st.Vaults {
		for _, o := range v.Secrets {
			for _, ver := range o.Versions {
				out = append(out, ver.Value)
			}
		}
	}
	return out, nil
}
