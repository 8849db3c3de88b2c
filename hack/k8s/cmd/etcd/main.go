// Command etcd is etcd's own server main, built from the version that
// k8s.io/kubernetes pins, so the local cluster needs no download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
