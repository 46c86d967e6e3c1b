package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiffk8s/skiff/runtime"
)

// newImageCommand is `skiff image`: image tools for air-gapped hosts.
func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the node's container images",
	}
	cmd.AddCommand(newImageImportCommand())
	return cmd
}

func newImageImportCommand() *cobra.Command {
	var address, namespace string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import an image tarball (OCI layout or `docker save` archive) into containerd",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			rt, err := runtime.New(ctx, runtime.Config{Address: address, Namespace: namespace})
			if err != nil {
				return err
			}
			defer rt.Close()
			imgs, err := rt.Import(ctx, f)
			if err != nil {
				return err
			}
			for _, img := range imgs {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s (%s)\n", img.Ref, img.ID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&address, "containerd-address", "/run/containerd/containerd.sock", "containerd's gRPC socket")
	cmd.Flags().StringVar(&namespace, "namespace", "skiff", "containerd namespace the kubelet uses")
	return cmd
}
