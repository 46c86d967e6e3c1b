package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// runKubectl runs upstream kubectl as upstream's own main does, for
// `skiff kubectl ARGS...`: os.Args becomes ["kubectl", ARGS...] first,
// because kubectl reads os.Args itself (plugins such as kubectl-foo on
// PATH, kuberc aliases and defaults), and the klog flags (-v, --vmodule)
// are added as kubectl's main adds them. It does not return.
func runKubectl() {
	os.Args = os.Args[1:]
	c := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(c); err != nil {
		cmdutil.CheckErr(err) // prints "error: ..." and exits 1
	}
	os.Exit(0)
}

// newKubectlCommand is `skiff kubectl` in skiff's own command tree, for
// help and for invocations main does not hand to runKubectl directly.
// Building the real kubectl command here would run kubectl's plugin lookup
// on every skiff command line (`skiff up` would execute a kubectl-up
// plugin), so it is built only when kubectl runs.
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl",
		Short:              "Run upstream kubectl (embedded)",
		DisableFlagParsing: true,
		Run: func(cmd *cobra.Command, args []string) {
			os.Args = append([]string{os.Args[0], "kubectl"}, args...)
			runKubectl()
		},
	}
}
