package registrar

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Health returns the --http-endpoint mux: /healthz is 200 "ok" while the
// registration socket exists and answers GetInfo with this driver's name, 404
// when the socket is gone (the kubelet can no longer find the driver), and
// 500 when it does not answer.
func (r *Registrar) Health() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, req *http.Request) {
		code, err := r.check(req.Context())
		if err != nil {
			klog.ErrorS(err, "Health check failed")
			http.Error(w, err.Error(), code)
			return
		}
		klog.V(5).InfoS("Health check succeeded")
		w.Write([]byte("ok"))
	})
	return mux
}

func (r *Registrar) check(ctx context.Context) (int, error) {
	fi, err := os.Stat(r.socket)
	if errors.Is(err, fs.ErrNotExist) {
		return http.StatusNotFound, fmt.Errorf("registration socket %s does not exist", r.socket)
	}
	if err != nil {
		return http.StatusInternalServerError, err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return http.StatusInternalServerError, fmt.Errorf("%s is not a socket", r.socket)
	}
	conn, err := grpc.NewClient("unix://"+r.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return http.StatusInternalServerError, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	info, err := registerapi.NewRegistrationClient(conn).GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("registration socket %s does not answer GetInfo: %w", r.socket, err)
	}
	if info.GetName() != r.driver {
		return http.StatusInternalServerError, fmt.Errorf("registration socket %s serves driver %q, want %q", r.socket, info.GetName(), r.driver)
	}
	return http.StatusOK, nil
}
