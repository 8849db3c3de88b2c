package daemon

import (
	"net/http"
	"net/http/pprof"
)

// pprofHandler serves the net/http/pprof endpoints under /debug/pprof/ (upstream's
// --enable-pprof). It is registered on its own mux, never on the metrics endpoint.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
