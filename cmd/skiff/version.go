package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/skiffk8s/skiff/internal/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the skiff version and the Kubernetes version it serves",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "skiff %s (kubernetes %s, commit %s, %s %s/%s)\n",
				version.Skiff, version.Kubernetes, version.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
