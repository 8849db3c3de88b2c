package addon

import (
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WorkloadStatus is one DaemonSet of the add-on as the server reports it.
type WorkloadStatus struct {
	Name                               string
	Present                            bool
	Containers                         []string
	Desired, Ready, Updated, Available int64
	ObservedGeneration, Generation     int64
}

// Status is what `kvcsi addon status` shows.
type Status struct {
	Enabled               bool
	Config                *Config
	Workloads             []WorkloadStatus
	CSIDriver             bool
	RequiresRepublish     bool
	SecretProviderClasses []string
}

// Status reads the stored settings and the live objects.
func (m *Manager) Status(ctx context.Context) (*Status, error) {
	c, err := m.Config(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{Enabled: c != nil, Config: c}
	for _, name := range []string{DriverName, ProviderName} {
		probe := &unstructured.Unstructured{}
		probe.SetAPIVersion("apps/v1")
		probe.SetKind("DaemonSet")
		probe.SetNamespace(Namespace)
		probe.SetName(name)
		live, err := m.kube.Get(ctx, probe)
		if err != nil {
			return nil, err
		}
		w := WorkloadStatus{Name: name, Present: live != nil}
		if live != nil {
			cs, _, _ := unstructured.NestedSlice(live.Object, "spec", "template", "spec", "containers")
			for _, c := range cs {
				if m, ok := c.(map[string]any); ok {
					w.Containers = append(w.Containers, fmt.Sprint(m["name"]))
				}
			}
			w.Desired, _, _ = unstructured.NestedInt64(live.Object, "status", "desiredNumberScheduled")
			w.Ready, _, _ = unstructured.NestedInt64(live.Object, "status", "numberReady")
			w.Updated, _, _ = unstructured.NestedInt64(live.Object, "status", "updatedNumberScheduled")
			w.Available, _, _ = unstructured.NestedInt64(live.Object, "status", "numberAvailable")
			w.ObservedGeneration, _, _ = unstructured.NestedInt64(live.Object, "status", "observedGeneration")
			w.Generation = live.GetGeneration()
		}
		s.Workloads = append(s.Workloads, w)
	}
	probe := &unstructured.Unstructured{}
	probe.SetAPIVersion("storage.k8s.io/v1")
	probe.SetKind("CSIDriver")
	probe.SetName("secrets-store.csi.k8s.io")
	live, err := m.kube.Get(ctx, probe)
	if err != nil {
		return nil, err
	}
	if live != nil {
		s.CSIDriver = true
		s.RequiresRepublish, _, _ = unstructured.NestedBool(live.Object, "spec", "requiresRepublish")
	}
	if s.SecretProviderClasses, err = m.SecretProviderClassNames(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Write prints the status for people.
func (s *Status) Write(w io.Writer) {
	if !s.Enabled {
		fmt.Fprintf(w, "add-on %s: disabled\n", Name)
	} else {
		c := s.Config
		fmt.Fprintf(w, "add-on %s: enabled\n", Name)
		fmt.Fprintf(w, "  secret rotation:      %s\n", onOff(c.EnableSecretRotation))
		fmt.Fprintf(w, "  rotation poll:        %s\n", c.RotationPollInterval)
		fmt.Fprintf(w, "  secret sync:          %s\n", onOff(c.SyncSecret))
		fmt.Fprintf(w, "  images:               %s/*:%s (official sidecars: %s)\n", c.ImageRegistry, c.ImageTag, onOff(c.OfficialSidecars))
		if c.ProviderCABundle != "" {
			fmt.Fprintf(w, "  provider CA bundle:   %d certificate(s)\n", strings.Count(c.ProviderCABundle, "BEGIN CERTIFICATE"))
		}
		for _, h := range c.ProviderHostAliases {
			fmt.Fprintf(w, "  provider host alias:  %s=%s\n", h.IP, strings.Join(h.Hostnames, ","))
		}
	}
	for _, wl := range s.Workloads {
		if !wl.Present {
			fmt.Fprintf(w, "  daemonset %s/%s: absent\n", Namespace, wl.Name)
			continue
		}
		rolling := ""
		if wl.ObservedGeneration < wl.Generation || wl.Updated < wl.Desired {
			rolling = " (rolling out)"
		}
		fmt.Fprintf(w, "  daemonset %s/%s: %d containers [%s], desired %d, ready %d, up-to-date %d%s\n",
			Namespace, wl.Name, len(wl.Containers), strings.Join(wl.Containers, ","), wl.Desired, wl.Ready, wl.Updated, rolling)
	}
	fmt.Fprintf(w, "  csidriver secrets-store.csi.k8s.io: %s", map[bool]string{true: "present", false: "absent"}[s.CSIDriver])
	if s.CSIDriver {
		fmt.Fprintf(w, " (requiresRepublish %v)", s.RequiresRepublish)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  secretproviderclasses: %d\n", len(s.SecretProviderClasses))
}
