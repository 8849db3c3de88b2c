package sim

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// apiCounter counts apiserver requests by "verb resource" (kube-apiserver's
// apiserver_request_total labels, derived from method, path and ?watch).
type apiCounter struct {
	mu sync.Mutex
	m  map[string]int64
}

func newAPICounter() *apiCounter { return &apiCounter{m: map[string]int64{}} }

func (c *apiCounter) add(r *http.Request) {
	k := classify(r)
	c.mu.Lock()
	c.m[k]++
	c.mu.Unlock()
}

func (c *apiCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

func diffCounts(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// classify names a request "verb resource[/subresource]".
func classify(r *http.Request) string {
	p := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(r.Method) + " " + "/" + p
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	res, name, sub := "", "", ""
	if len(parts) > 0 {
		res = parts[0]
	}
	if len(parts) > 1 {
		name = parts[1]
	}
	if len(parts) > 2 {
		sub = "/" + parts[2]
	}
	verb := ""
	switch r.Method {
	case http.MethodGet:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			verb = "watch"
		case name == "":
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		if name == "" {
			verb = "deletecollection"
		} else {
			verb = "delete"
		}
	default:
		verb = strings.ToLower(r.Method)
	}
	return verb + " " + res + sub
}

// apiProxy is a plain-HTTP reverse proxy on loopback in front of the
// apiserver; the drivers' kubeconfigs point at it, so every request they make
// is counted. It forwards with the admin credentials.
type apiProxy struct {
	lis     net.Listener
	srv     *http.Server
	counter *apiCounter
}

func startAPIProxy(rc *rest.Config) (*apiProxy, error) {
	rt, err := rest.TransportFor(rc)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(rc.Host)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{lis: lis, counter: newAPICounter()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport:     rt,
		FlushInterval: -1,
		// Watches cancelled at the end of a pass are not errors worth a line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.counter.add(r)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(lis) }()
	return p, nil
}

func (p *apiProxy) url() string { return "http://" + p.lis.Addr().String() }

func (p *apiProxy) close() { _ = p.srv.Close() }

// countingTransport counts the requests of an in-process client (the
// simulated kubelets).
type countingTransport struct {
	next    http.RoundTripper
	counter *apiCounter
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.counter.add(r)
	return t.next.RoundTrip(r)
}
