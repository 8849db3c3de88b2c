package main

import (
	"context"
	"os"

	"github.com/kvcsi/kvcsi/addon"
)

func init() {
	register("addon", "enable, update, disable or show the Key Vault secrets provider add-on", func(ctx context.Context, args []string) error {
		return addon.Run(ctx, args, os.Stdout)
	})
}
