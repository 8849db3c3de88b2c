// Package e2e runs kvcsi's scenario catalogue as e2e-framework features, one
// feature per scenario, labelled with its group and documentation section.
//
// TestMain picks the cluster:
//
//   - --kubeconfig FILE (or $KUBECONFIG): that cluster; its nodes must have
//     kvcsi's images (make images-kind-load, or the local cluster's import);
//   - --kind-cluster NAME --kind-config FILE (what `make e2e` passes): a kind
//     cluster created from kind-config.yaml, the image tarballs loaded with
//     `kind load image-archive`, deleted at the end;
//   - neither (CI's `go test ./...`, as root): the local cluster, with the
//     images imported, so the same path runs without Docker. There only the
//     smoke subset runs (see smokeScenarios): scenarios/target/local runs
//     the whole catalogue on the same cluster in the same `go test ./...`.
//
// In every case the target is the "kind" scenario target
// (scenarios/target/cluster.StartKind): the emulator is deployed into the
// cluster, and the add-on is enabled by the first feature, addon/enable.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support/kind"

	"github.com/kvcsi/kvcsi/images"
	"github.com/kvcsi/kvcsi/localcluster"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
	"github.com/kvcsi/kvcsi/scenarios/target/cluster"
	"github.com/kvcsi/kvcsi/scenarios/target/local"
)

var (
	kindCluster = flag.String("kind-cluster", "", "create this kind cluster from --kind-config, load the images, delete it at the end")
	kindConfig  = flag.String("kind-config", "../kind-config.yaml", "kind cluster configuration")
	imageTag    = flag.String("image-tag", "", "tag of kvcsi's images (default: this binary's version)")
	catalogue   = flag.String("catalogue", "", "all or smoke: which scenarios run (default: all on a given cluster, smoke on the local cluster)")
)

var (
	testenv env.Environment
	// tgt is the scenario target every feature runs on; nil when the suite
	// cannot run here (skipReason says why).
	tgt        scenarios.Target
	skipReason string
	// runAll runs the whole catalogue; otherwise smokeScenarios.
	runAll bool
)

func TestMain(m *testing.M) {
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	testenv = env.NewWithConfig(cfg)
	tag := *imageTag
	if tag == "" {
		tag = target.DefaultImageTag()
	}
	var localCluster *localcluster.Cluster
	// teardown runs after the target is closed, so the emulator and the
	// relay are removed while the cluster still runs.
	var teardown []env.Func
	kubeconfig := cfg.KubeconfigFile()
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	// all: the whole catalogue; the default path (the local cluster) runs
	// the smoke subset, --catalogue overrides.
	runAll = kubeconfig != "" || *kindCluster != ""
	switch *catalogue {
	case "":
	case "all", "smoke":
		runAll = *catalogue == "all"
	default:
		fmt.Fprintf(os.Stderr, "e2e: --catalogue %q: use all or smoke\n", *catalogue)
		os.Exit(2)
	}
	switch {
	case kubeconfig != "":
		// An existing cluster: nothing to create.
	case *kindCluster != "":
		tarballs, err := buildImages(tag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		testenv.Setup(envfuncs.CreateClusterWithConfig(kind.NewProvider(), *kindCluster, *kindConfig))
		for _, t := range tarballs {
			testenv.Setup(envfuncs.LoadImageArchiveToCluster(*kindCluster, t))
		}
		// Never delete a cluster this run did not create: CreateClusterWithConfig
		// reuses an existing cluster of that name.
		if kindClusterExists(*kindCluster) {
			fmt.Fprintf(os.Stderr, "e2e: kind cluster %q exists already: using it, and keeping it afterwards\n", *kindCluster)
		} else {
			teardown = append(teardown, envfuncs.DestroyCluster(*kindCluster))
		}
	case os.Geteuid() != 0:
		skipReason = "needs root: without --kubeconfig or --kind-cluster the suite runs on the local cluster, which mounts and runs a kubelet"
	default:
		tarballs, err := buildImages(tag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(1)
		}
		testenv.Setup(func(ctx context.Context, c *envconf.Config) (context.Context, error) {
			lc, err := localcluster.Start(ctx, localcluster.Config{})
			if err != nil {
				return ctx, err
			}
			localCluster = lc
			if err := lc.LoadImages(ctx, tarballs...); err != nil {
				return ctx, err
			}
			c.WithKubeconfigFile(lc.KubeconfigPath())
			return ctx, nil
		})
		teardown = append(teardown, func(ctx context.Context, c *envconf.Config) (context.Context, error) {
			if localCluster == nil {
				return ctx, nil
			}
			return ctx, localCluster.Stop()
		})
	}
	if skipReason == "" {
		testenv.Setup(func(ctx context.Context, c *envconf.Config) (context.Context, error) {
			kc := c.KubeconfigFile()
			if kc == "" {
				kc = kubeconfig
			}
			t, err := cluster.StartKind(ctx, cluster.Options{Kubeconfig: kc, ImageTag: tag, Log: os.Stdout})
			if err != nil {
				return ctx, err
			}
			tgt = t
			return ctx, nil
		})
	}
	// Finish functions run in registration order.
	testenv.Finish(func(ctx context.Context, c *envconf.Config) (context.Context, error) {
		if tgt == nil {
			return ctx, nil
		}
		return ctx, tgt.Close()
	})
	testenv.Finish(teardown...)
	os.Exit(testenv.Run(m))
}

// buildImages builds the image tarballs with the one image build path.
func buildImages(tag string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	imgs, err := images.Build(ctx, images.Options{Version: tag, OutDir: local.ImagesDir(tag), Only: local.Images})
	if err != nil {
		return nil, fmt.Errorf("build images: %w", err)
	}
	var out []string
	for _, im := range imgs {
		out = append(out, im.Path)
	}
	return out, nil
}

// kindClusterExists says whether `kind get clusters` lists name.
func kindClusterExists(name string) bool {
	out, err := exec.Command("kind", "get", "clusters").Output()
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == name {
			return true
		}
	}
	return false
}
