package main

import (
	"context"
	"os"

	"github.com/kvcsi/kvcsi/scenarios/cli"
)

func init() {
	register("scenarios", "run the documented behaviours (the executable spec) on local, kind or aks", func(ctx context.Context, args []string) error {
		return cli.Run(ctx, args, os.Stdout)
	})
}
