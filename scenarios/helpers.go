package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// podReadyTimeout bounds how long a pod with a secrets-store volume may take to
// start: a mount is one provider call, so this is generous.
const podReadyTimeout = 2 * time.Minute

// busyboxPod is the documentation's busybox-secrets-store-inline pod with one
// inline secrets-store volume per SecretProviderClass, mounted at
// /mnt/secrets-store, /mnt/secrets-store-1, ...
func busyboxPod(name string, classes ...string) string {
	var mounts, vols strings.Builder
	for i, c := range classes {
		suffix := ""
		if i > 0 {
			suffix = fmt.Sprintf("-%d", i)
		}
		fmt.Fprintf(&mounts, `
      - name: secrets-store01-inline%[1]s
        mountPath: "/mnt/secrets-store%[1]s"
        readOnly: true`, suffix)
		fmt.Fprintf(&vols, `
    - name: secrets-store01-inline%[1]s
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: "%[2]s"`, suffix, c)
	}
	return fmt.Sprintf(`
kind: Pod
apiVersion: v1
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: busybox
      image: registry.k8s.io/e2e-test-images/busybox:1.29-1
      command:
        - "/bin/sleep"
        - "10000"
      volumeMounts:%s
  volumes:%s
`, name, mounts.String(), vols.String())
}

// userMSIClass is a SecretProviderClass in the documentation's form for the
// add-on's user-assigned managed identity, with the given objects array
// (already indented as the documentation indents it) and secretObjects.
func userMSIClass(name, objects, secretObjects string) string {
	return fmt.Sprintf(`
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: %s
spec:
  provider: azure
  parameters:
    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <client-id>
    keyvaultName: <keyvault-name>
    objects: |
      array:
%s
    tenantId: <tenant-id>
%s`, name, objects, secretObjects)
}

// object renders one entry of the objects array.
func object(fields ...string) string {
	var b strings.Builder
	b.WriteString("        - |\n")
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "          %s: %q\n", fields[i], fields[i+1])
	}
	return strings.TrimRight(b.String(), "\n")
}

// objects joins object entries.
func objects(entries ...string) string { return strings.Join(entries, "\n") }

// apply renders the documentation placeholders in yaml and applies it in the
// scenario's namespace.
func (e *Env) apply(ctx context.Context, yaml string, extra ...string) error {
	return e.Target.Kube().Apply(ctx, e.Namespace, e.Render(yaml, extra...))
}

// startPod applies yaml and waits for the pod to be Ready.
func (e *Env) startPod(ctx context.Context, pod, yaml string, extra ...string) error {
	if err := e.apply(ctx, yaml, extra...); err != nil {
		return err
	}
	return e.Target.Kube().WaitPodReady(ctx, e.Namespace, pod, podReadyTimeout)
}

// cat prints a file inside the pod's busybox container.
func (e *Env) cat(ctx context.Context, pod, path string) (string, error) {
	return e.Target.Kube().Exec(ctx, e.Namespace, pod, "", "cat", path)
}

// ls lists a directory inside the pod, one name per element.
func (e *Env) ls(ctx context.Context, pod, dir string) ([]string, error) {
	out, err := e.Target.Kube().Exec(ctx, e.Namespace, pod, "", "ls", "-1", dir)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// expectFile checks a mounted file's content. Only lengths are printed on a
// mismatch: the content is secret.
func (e *Env) expectFile(ctx context.Context, pod, path, want string) error {
	got, err := e.cat(ctx, pod, path)
	if err != nil {
		return err
	}
	if got != want {
		return errorf("%s in pod %s: got %d bytes that differ from the expected %d bytes", path, pod, len(got), len(want))
	}
	return nil
}

// waitFile waits until a mounted file has the wanted content.
func (e *Env) waitFile(ctx context.Context, pod, path, want string, timeout time.Duration) error {
	return e.Target.Kube().Eventually(ctx, timeout, func(ctx context.Context) (bool, error) {
		got, err := e.cat(ctx, pod, path)
		if err != nil {
			return false, err
		}
		if got != want {
			return false, errorf("%s still holds %d bytes that differ from the expected %d", path, len(got), len(want))
		}
		return true, nil
	})
}

// rotationWait is how long a rotated value may take to appear: a few poll
// intervals plus the time to reach the provider and write.
func rotationWait() time.Duration { return 4*RotationPollInterval + 30*time.Second }

// notRotatedPolls is how many poll intervals a negative rotation check
// (rotation off, or a 5m interval) waits before it asserts the mount still
// has the old value. The bound it rests on: with rotation on at
// RotationPollInterval the driver re-mounts every interval, and the
// provider's cache (--cache-ttl, 10s, documented to stay under the
// interval) hands out the new value by the following poll, so a rotating
// driver changes the mount within two intervals. Four leave the same margin
// for a loaded node as the positive checks' limit, rotationWait.
const notRotatedPolls = 4

// notRotatedWait is notRotatedPolls intervals: the time a negative rotation
// check needs, not a speed assertion.
func notRotatedWait() time.Duration { return notRotatedPolls * RotationPollInterval }

// uniqueValue is a secret value unique to this scenario and moment, so a
// rotated value cannot be confused with an earlier run's.
func uniqueValue(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}
