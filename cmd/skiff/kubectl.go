package main

import (
	"github.com/spf13/cobra"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
)

// newKubectlCommand returns upstream kubectl as the `skiff kubectl`
// subcommand. Flags after `kubectl` are kubectl's own.
func newKubectlCommand() *cobra.Command {
	c := kubectlcmd.NewDefaultKubectlCommand()
	c.Use = "kubectl"
	c.Short = "Run upstream kubectl (embedded)"
	return c
}
