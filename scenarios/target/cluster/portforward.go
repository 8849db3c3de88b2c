package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kvcsi/kvcsi/scenarios"
)

// Forward is a running port-forward to a pod, like `kubectl port-forward`.
type Forward struct {
	// Addr is the local 127.0.0.1:<port> that reaches the pod's port.
	Addr string
	stop chan struct{}
	done chan error
}

// PortForward forwards a free local port to port of the pod through the
// apiserver; Close stops it.
func PortForward(ctx context.Context, cfg *rest.Config, k *scenarios.Kube, ns, pod string, port int) (*Forward, error) {
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(k.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL().String())
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	f := &Forward{stop: make(chan struct{}), done: make(chan error, 1)}
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, f.stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, err
	}
	go func() { f.done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-f.done:
		return nil, fmt.Errorf("port-forward %s/%s:%d: %w", ns, pod, port, err)
	case <-ctx.Done():
		close(f.stop)
		return nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(f.stop)
		return nil, fmt.Errorf("port-forward %s/%s:%d: no local port (%v)", ns, pod, port, err)
	}
	f.Addr = "127.0.0.1:" + strconv.Itoa(int(ports[0].Local))
	return f, nil
}

// Close stops the forward.
func (f *Forward) Close() error {
	close(f.stop)
	<-f.done
	return nil
}
