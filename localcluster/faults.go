package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Fault injection for the scenarios of group faults/ (issue 15): a
// component stopped and started again as an outage or an upgrade would, and
// a container killed through containerd as a crash would.

// Restartable are the components StopComponent and StartComponent accept.
var Restartable = []string{"kube-apiserver", "kubelet"}

func (c *Cluster) findProcess(name string) (int, *process) {
	for i, p := range c.procs {
		if p.name == name {
			return i, p
		}
	}
	return -1, nil
}

// StopComponent stops a running component (one of Restartable) as an
// outage does: SIGTERM, then SIGKILL after 5 seconds. What it started (the
// kubelet's containers, mounts) stays.
func (c *Cluster) StopComponent(name string) error {
	if !slices.Contains(Restartable, name) {
		return fmt.Errorf("StopComponent %s: only %s can be stopped and started", name, strings.Join(Restartable, ", "))
	}
	_, p := c.findProcess(name)
	if p == nil {
		return fmt.Errorf("StopComponent %s: not running in this cluster", name)
	}
	p.stop(5 * time.Second)
	c.cfg.Logger.Info("stopped (fault injection)", "component", name)
	return nil
}

// StartComponent starts a component StopComponent stopped, with the same
// command line, and waits until it answers its health check
// (kube-apiserver /readyz, kubelet /healthz).
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	i, old := c.findProcess(name)
	if old == nil {
		return fmt.Errorf("StartComponent %s: this cluster never ran it", name)
	}
	if old.exited() == nil {
		return fmt.Errorf("StartComponent %s: still running (StopComponent first)", name)
	}
	c.procs = slices.Delete(c.procs, i, i+1)
	p, err := c.startProcess(name, old.cmd.Path, old.cmd.Args[1:], nil)
	if err != nil {
		return err
	}
	check := func() error { return c.getOK("/readyz") }
	if name == "kubelet" {
		check = func() error {
			resp, err := http.Get("http://127.0.0.1:10248/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("kubelet /healthz: %s", resp.Status)
			}
			return nil
		}
	}
	return c.poll(ctx, name, p, 120*time.Second, check)
}

// KillContainer sends SIGKILL to a running container's task through
// containerd (ctr task kill), as a crash would; the kubelet restarts it per
// the pod's restart policy. id is the container ID of the pod status, with
// or without its "containerd://" prefix.
func (c *Cluster) KillContainer(ctx context.Context, id string) error {
	id = strings.TrimPrefix(id, "containerd://")
	if id == "" {
		return fmt.Errorf("KillContainer: no container id")
	}
	if _, err := c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id); err != nil {
		return fmt.Errorf("KillContainer: %w", err)
	}
	return nil
}
