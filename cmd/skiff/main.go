// Command skiff is the single Skiff binary: every component is a
// subcommand. This package only parses flags and calls the components' Run.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		runKubectl()
	}
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", err)
		os.Exit(1)
	}
}

// newRootCommand returns the skiff command with every subcommand.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Skiff: a small Kubernetes in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newKubectlCommand(), newVersionCommand(), newImageCommand(), newInitCommand(), newJoinCommand(), newTokenCommand())
	// The components, each with --config FILE (see config.go).
	for _, c := range []*cobra.Command{newAPIServerCommand(), newUpCommand(), newKubeletCommand(), newSchedulerCommand(), newControllerManagerCommand(), newDNSCommand(), newProxyCommand(), newEtcdCommand()} {
		root.AddCommand(withConfigFile(c))
	}
	return root
}
