package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// outageFor is how long kube-apiserver stays down: the 30 s, three
// rotation polls of the run (10 s) while it is gone.
const outageFor = 30 * time.Second

// podVolumeDir is the node path of a pod's first secrets-store volume.
func (e *Env) podVolumeDir(ctx context.Context, pod string) (string, error) {
	p, err := e.Target.Kube().Clientset.CoreV1().Pods(e.Namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return csiVolumeDir(string(p.UID), "secrets-store01-inline"), nil
}

// mountCount counts the node's mounts (/proc/self/mountinfo of the harness,
// which runs in the node's mount namespace) whose mount point is dir.
func mountCount(ft FaultTarget, dir string) (int, error) {
	b, err := ft.NodeFile("/proc/self/mountinfo")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n, nil
}

// nodeFileOneOf checks a volume file on the node holds one of values.
func nodeFileOneOf(ft FaultTarget, path string, values ...string) error {
	b, err := ft.NodeFile(path)
	if err != nil {
		return errorf("read %s on the node: %v", filepath.Base(path), err)
	}
	for _, v := range values {
		if string(b) == v {
			return nil
		}
	}
	return errorf("%s on the node holds %d bytes that are none of the %d complete versions", filepath.Base(path), len(b), len(values))
}

var faultsAPIServerOutage = Scenario{
	Name:    "faults/apiserver-outage-during-rotation",
	Section: "Enable and disable autorotation",
	Summary: "kube-apiserver is stopped for 30 s (three rotation polls) and a new version is stored in Key Vault during the outage, so every poll that could rotate it fails; the mount keeps complete content throughout, and after it returns the mount and the synced Secret get the new version",
	Code:    []string{"driver/rotation.Rotator.ReconcileAll", "driver/secretsync.Syncer.Sync"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		before := uniqueValue("before")
		if err := startRotating(ctx, env, before); err != nil {
			return err
		}
		dir, err := env.podVolumeDir(ctx, "rotating")
		if err != nil {
			return err
		}
		if err := ft.StopComponent("kube-apiserver"); err != nil {
			return err
		}
		started := false
		defer func() {
			if !started {
				if serr := ft.StartComponent(context.WithoutCancel(ctx), "kube-apiserver"); serr != nil && err == nil {
					err = serr
				}
			}
		}()
		// The new version only once the apiserver is down, so the rotation
		// is due throughout the outage by construction: stored before, a
		// poll (or the apiserver's own graceful shutdown) could let it
		// complete before the outage, which then tests nothing.
		after := uniqueValue("after")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", after); err != nil {
			return err
		}
		env.Figure("apiserver outages", 1)
		checks := 0
		for end := time.Now().Add(outageFor); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			if err := nodeFileOneOf(ft, filepath.Join(dir, "foo1"), before, after); err != nil {
				return errorf("during the outage: %v", err)
			}
			checks++
		}
		started = true
		if err := ft.StartComponent(ctx, "kube-apiserver"); err != nil {
			return err
		}
		if err := env.waitFile(ctx, "rotating", "/mnt/secrets-store/foo1", after, rotationWait()); err != nil {
			return errorf("mount not rotated after the outage: %v", err)
		}
		if err := waitSecretData(ctx, env, "foosecret", "username", after, rotationWait()); err != nil {
			return errorf("synced Secret did not catch up after the outage: %v", err)
		}
		env.Figure("mounts checked", checks+1)
		env.Figure("content lost", 0)
		return nil
	},
}

var faultsKubeletRestart = Scenario{
	Name:    "faults/kubelet-restart",
	Section: "Troubleshooting",
	Summary: "the kubelet is restarted with 3 pods mounted: their volumes stay readable, a new pod mounts after, a new version still reaches every pod, and no volume is mounted twice (/proc/self/mountinfo)",
	Code:    []string{"driver/csiplugin.Server.NodePublishVolume", "driver/tmpfs.Mount"},
	Run: func(ctx context.Context, env *Env) (err error) {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		first := uniqueValue("kubelet")
		if _, err := env.Target.Vault().SetSecret(ctx, "kubelet1", first); err != nil {
			return err
		}
		class := userMSIClass("kubelet", objects(object("objectName", "kubelet1", "objectType", "secret")), "")
		if err := env.apply(ctx, class); err != nil {
			return err
		}
		pods, err := env.startFaultPods(ctx, "held", "kubelet", 3)
		if err != nil {
			return err
		}
		if err := env.waitPodsReady(ctx, pods, podReadyTimeout); err != nil {
			return err
		}
		dirs := map[string]string{}
		for _, p := range pods {
			if dirs[p], err = env.podVolumeDir(ctx, p); err != nil {
				return err
			}
		}
		// The node's mount table may list one tmpfs once per peer of a
		// shared /var/lib/kubelet; the count each volume had before the
		// restart is its one mount, and must not grow.
		checks, dups := 0, 0
		baseline := map[string]int{}
		countMounts := func(when string) error {
			for p, d := range dirs {
				n, err := mountCount(ft, d)
				if err != nil {
					return err
				}
				checks++
				if b, ok := baseline[p]; !ok {
					if n == 0 {
						return errorf("%s: pod %s's volume is not mounted", when, p)
					}
					baseline[p] = n
				} else if n != b {
					dups++
					return errorf("%s: pod %s's volume has %d mount table entries, %d before the restart: mounted again on top", when, p, n, b)
				}
			}
			return nil
		}
		if err := countMounts("before the restart"); err != nil {
			return err
		}
		if err := ft.StopComponent("kubelet"); err != nil {
			return err
		}
		started := false
		defer func() {
			if !started {
				if serr := ft.StartComponent(context.WithoutCancel(ctx), "kubelet"); serr != nil && err == nil {
					err = serr
				}
			}
		}()
		env.Figure("kubelet restarts", 1)
		for _, d := range dirs {
			if err := nodeFileOneOf(ft, filepath.Join(d, "kubelet1"), first); err != nil {
				return errorf("with the kubelet stopped: %v", err)
			}
		}
		started = true
		if err := ft.StartComponent(ctx, "kubelet"); err != nil {
			return err
		}
		// Republish: a pod started after the restart mounts.
		if err := env.startPod(ctx, "after", busyboxPod("after", "kubelet")); err != nil {
			return errorf("a pod started after the kubelet restart: %v", err)
		}
		next := uniqueValue("kubelet-next")
		if _, err := env.Target.Vault().SetSecret(ctx, "kubelet1", next); err != nil {
			return err
		}
		for _, p := range append(pods, "after") {
			if err := env.waitFile(ctx, p, "/mnt/secrets-store/kubelet1", next, rotationWait()); err != nil {
				// A second tmpfs on the target hides rotation from the pod,
				// which still sees the first: say so when that is the cause.
				if cerr := countMounts("after the restart"); cerr != nil {
					return cerr
				}
				return errorf("after the kubelet restart, pod %s: %v", p, err)
			}
		}
		if err := countMounts("after the restart"); err != nil {
			return err
		}
		ps, err := k.Clientset.CoreV1().Pods(env.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, p := range ps.Items {
			for _, c := range p.Status.ContainerStatuses {
				if c.RestartCount > 0 {
					return errorf("pod %s's container restarted %d times across the kubelet restart", p.Name, c.RestartCount)
				}
			}
		}
		env.Figure("pods", len(pods)+1)
		env.Figure("mounts checked", checks)
		env.Figure("mounted twice", dups)
		return nil
	},
}

var faultsTargetUnmounted = Scenario{
	Name:    "faults/target-unmounted-underneath",
	Section: "Enable and disable autorotation",
	Summary: "a pod's tmpfs is unmounted behind the driver's back while a rotation is due: across three poll intervals nothing is written to the node's disk in the target directory, and deleting the pod completes",
	Code:    []string{"driver/rotation.targetMounted", "driver/tmpfs.IsMountPoint"},
	Run: func(ctx context.Context, env *Env) error {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		value := uniqueValue("unmounted")
		if _, err := env.Target.Vault().SetSecret(ctx, "unm1", value); err != nil {
			return err
		}
		class := userMSIClass("unm", objects(object("objectName", "unm1", "objectType", "secret")), "")
		if err := env.startPod(ctx, "victim", class+"---"+busyboxPod("victim", "unm")); err != nil {
			return err
		}
		dir, err := env.podVolumeDir(ctx, "victim")
		if err != nil {
			return err
		}
		if _, err := env.Target.Vault().SetSecret(ctx, "unm1", uniqueValue("unmounted-next")); err != nil {
			return err
		}
		if err := ft.Unmount(dir); err != nil {
			return err
		}
		env.Figure("tmpfs unmounted", 1)
		checks := 0
		for end := time.Now().Add(3 * RotationPollInterval); time.Now().Before(end); time.Sleep(time.Second) {
			n, err := mountCount(ft, dir)
			if err != nil {
				return err
			}
			checks++
			if n > 0 {
				continue // mounted again: what is there is on a tmpfs
			}
			ents, err := os.ReadDir(dir)
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			if len(ents) > 0 {
				// A republish may have mounted a new tmpfs since the count.
				if n, err := mountCount(ft, dir); err != nil || n > 0 {
					continue
				}
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				return errorf("%d entries written to the node's disk in the unmounted target: %s", len(ents), strings.Join(names, ", "))
			}
		}
		zero := int64(0)
		k := env.Target.Kube()
		if err := k.Clientset.CoreV1().Pods(env.Namespace).Delete(ctx, "victim", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			return err
		}
		if err := k.Eventually(ctx, time.Minute, func(ctx context.Context) (bool, error) {
			_, err := k.Clientset.CoreV1().Pods(env.Namespace).Get(ctx, "victim", metav1.GetOptions{})
			return err != nil, nil
		}); err != nil {
			return errorf("the pod whose tmpfs was unmounted is not deleted: %v", err)
		}
		env.Figure("disk checks", checks)
		env.Figure("bytes on disk", 0)
		return nil
	},
}
