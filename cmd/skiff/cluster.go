package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/skiffk8s/skiff/install"
	"github.com/skiffk8s/skiff/kubelet"
)

// This file holds the commands that turn hosts into cluster members:
// skiff init, skiff join and skiff token. The work is in package install.

func newInitCommand() *cobra.Command {
	var (
		cfg       install.InitConfig
		advertise net.IP
		wait      time.Duration
	)
	c := &cobra.Command{
		Use:   "init",
		Short: "Make this host the first master: PKI, configs, control-plane units, and a join command for workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			cfg.AdvertiseAddress = advertise
			if cfg.UploadCerts && cfg.EtcdServers == "" {
				return fmt.Errorf("--upload-certs needs --etcd-servers: other masters cannot reach an embedded etcd")
			}
			if cfg.AdvertiseAddress == nil {
				ip, err := kubelet.HostIPv4()
				if err != nil {
					return fmt.Errorf("--advertise-address: %w", err)
				}
				cfg.AdvertiseAddress = ip
			}
			return runInit(ctx, cmd, cfg, wait)
		},
	}
	fs := c.Flags()
	fs.IPVar(&advertise, "advertise-address", nil, "address workers reach the API server at (default: the host's first IPv4 address)")
	fs.IntVar(&cfg.Port, "secure-port", 6443, "the API server's port")
	fs.StringVar(&cfg.NodeName, "node-name", "", "this master's node name (default: the host name)")
	fs.StringVar(&cfg.EtcDir, "etc-dir", install.DefaultEtcDir, "where configs and kubeconfigs are written")
	fs.StringVar(&cfg.DataDir, "data-dir", install.DefaultDataDir, "the cluster's data (PKI, etcd, kubelet state)")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of the first bootstrap token")
	fs.DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the API server")
	fs.StringVar(&cfg.EtcdServers, "etcd-servers", "", "external etcd for the API server (comma-separated URLs; default: an embedded etcd); masters that join share it")
	fs.BoolVar(&cfg.UploadCerts, "upload-certs", false, "store the control plane's keys in the cluster, encrypted, for 2 hours, and print the join command for more masters (needs --etcd-servers)")
	return c
}

func runInit(ctx context.Context, cmd *cobra.Command, cfg install.InitConfig, wait time.Duration) error {
	out := cmd.OutOrStdout()
	p, err := install.Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	for _, f := range p.Files {
		fmt.Fprintf(out, "wrote %s\n", f)
	}
	if len(p.Commands) > 0 {
		fmt.Fprintf(out, "systemd is not running here: start the control plane with these commands (one each), then this command goes on:\n")
		for _, c := range p.Commands {
			fmt.Fprintf(out, "  %s\n", c)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cs, err := install.WaitForAPIServer(wctx, p.AdminKubeconfig)
	if err != nil {
		return fmt.Errorf("--wait: %w", err)
	}
	join, master, err := install.Finish(ctx, cfg, cs)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe control plane is up. Use it with:\n  skiff kubectl --kubeconfig %s get nodes\n\nJoin workers by running this on each of them (the token expires in %s; `skiff token create` makes another):\n  %s\n",
		p.AdminKubeconfig, cfg.TokenTTL, join)
	if master != "" {
		fmt.Fprintf(out, "\nJoin more masters with this (the keys stay uploaded for %s; `skiff token create --upload-certs` uploads them again):\n  %s\n", install.UploadedCertsTTL, master)
	}
	return nil
}

func newJoinCommand() *cobra.Command {
	var (
		cfg     install.JoinConfig
		token   string
		hashes  []string
		role    string
		certKey string
	)
	c := &cobra.Command{
		Use:   "join --server https://HOST:6443 --token ID.SECRET --ca-cert-hash sha256:...",
		Short: "Make this host a worker of the cluster a join command names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			switch role {
			case "worker":
				if certKey != "" {
					return fmt.Errorf("--certificate-key is for --role master")
				}
			case "master":
				cfg.Master = true
				k, err := install.ParseCertificateKey(certKey)
				if err != nil {
					return fmt.Errorf("--certificate-key: %w", err)
				}
				cfg.CertificateKey = k
			default:
				return fmt.Errorf("--role %q: want worker or master", role)
			}
			if cfg.Server == "" {
				return fmt.Errorf("--server is required")
			}
			t, err := install.ParseToken(token)
			if err != nil {
				return fmt.Errorf("--token: %w", err)
			}
			cfg.Token = t
			for _, h := range hashes {
				p, err := install.ParseCAHash(h)
				if err != nil {
					return fmt.Errorf("--ca-cert-hash: %w", err)
				}
				cfg.CAHashes = append(cfg.CAHashes, p)
			}
			if len(cfg.CAHashes) == 0 {
				return fmt.Errorf("--ca-cert-hash is required (it pins the cluster CA; `skiff token create` prints it)")
			}
			if cfg.Master && cfg.AdvertiseAddress == nil && cfg.NodeIP == nil {
				ip, err := kubelet.HostIPv4()
				if err != nil {
					return fmt.Errorf("--advertise-address: %w", err)
				}
				cfg.AdvertiseAddress = ip
			}
			j, err := install.Join(ctx, cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range j.Files {
				fmt.Fprintf(out, "wrote %s\n", f)
			}
			if len(j.Commands) > 0 {
				fmt.Fprintf(out, "systemd is not running here: start the node with these commands (one each):\n")
				for _, c := range j.Commands {
					fmt.Fprintf(out, "  %s\n", c)
				}
			}
			fmt.Fprintf(out, "This host joins as node %q once its kubelet has its certificate; see it with `skiff kubectl get nodes` on a master.\n", cfg.NodeName)
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVar(&cfg.Server, "server", "", "the API server URL, https://HOST:6443")
	fs.StringVar(&token, "token", "", "bootstrap token ID.SECRET")
	fs.StringSliceVar(&hashes, "ca-cert-hash", nil, "pin of the cluster CA's public key, sha256:<hex> (repeatable)")
	fs.StringVar(&role, "role", "worker", "worker, or master (with --certificate-key; the control plane must use an external etcd)")
	fs.StringVar(&certKey, "certificate-key", "", "key of the uploaded control-plane keys, for --role master")
	fs.IPVar(&cfg.AdvertiseAddress, "advertise-address", nil, "for --role master: the address this master's API server is reached at (default --node-ip, else the host's first IPv4 address)")
	fs.StringVar(&cfg.NodeName, "node-name", "", "this node's name (default: the host name)")
	fs.IPVar(&cfg.NodeIP, "node-ip", nil, "this node's InternalIP (default: the kubelet picks the host's first IPv4 address)")
	fs.DurationVar(&cfg.DiscoveryTimeout, "discovery-timeout", 5*time.Minute, "how long to retry while the server is unreachable or has not signed cluster-info for the token")
	fs.StringVar(&cfg.EtcDir, "etc-dir", install.DefaultEtcDir, "where configs and kubeconfigs are written")
	fs.StringVar(&cfg.DataDir, "data-dir", install.DefaultDataDir, "the node's data (CA, kubelet state)")
	return c
}

func newTokenCommand() *cobra.Command {
	var kubeconfig string
	c := &cobra.Command{
		Use:   "token",
		Short: "Create, list and delete bootstrap tokens (join credentials for workers)",
	}
	c.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "/etc/skiff/admin.kubeconfig", "kubeconfig of a cluster admin")
	client := func() (kubernetes.Interface, *clientcmdConfig, error) {
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		ca := rc.CAData
		if len(ca) == 0 && rc.CAFile != "" {
			if ca, err = os.ReadFile(rc.CAFile); err != nil {
				return nil, nil, fmt.Errorf("--kubeconfig: CA: %w", err)
			}
		}
		return cs, &clientcmdConfig{server: rc.Host, caPEM: ca}, nil
	}

	var ttl time.Duration
	var description string
	var uploadCerts bool
	var dataDir, apiserverConfig string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token and print the join command that uses it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return fmt.Errorf("--ttl: %v is negative (0 means never expires)", ttl)
			}
			cs, kc, err := client()
			if err != nil {
				return err
			}
			t, err := install.GenerateToken()
			if err != nil {
				return err
			}
			if err := install.CreateToken(cmd.Context(), cs, t, ttl, description, time.Now()); err != nil {
				return err
			}
			join, err := install.JoinCommand(kc.server, t, kc.caPEM)
			if err != nil {
				return err
			}
			if uploadCerts {
				etcd, err := configValue(apiserverConfig, "etcd-servers")
				if err != nil {
					return fmt.Errorf("--upload-certs: %w", err)
				}
				if join, err = install.UploadForMasters(cmd.Context(), cs, filepath.Join(dataDir, "pki"), etcd, join, time.Now()); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), join)
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: never expires)")
	create.Flags().StringVar(&description, "description", "", "what the token is for")
	create.Flags().BoolVar(&uploadCerts, "upload-certs", false, "also upload the control plane's keys (for 2 hours) and print the join command for a master")
	create.Flags().StringVar(&dataDir, "data-dir", install.DefaultDataDir, "with --upload-certs: the data directory holding pki/")
	create.Flags().StringVar(&apiserverConfig, "apiserver-config", "/etc/skiff/apiserver.yaml", "with --upload-certs: the API server's config, for its etcd-servers")

	list := &cobra.Command{
		Use:   "list",
		Short: "List bootstrap tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, _, err := client()
			if err != nil {
				return err
			}
			tokens, err := install.ListTokens(cmd.Context(), cs)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TOKEN ID\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS")
			for _, t := range tokens {
				ttl, expires := "<forever>", "<never>"
				if !t.Expires.IsZero() {
					ttl, expires = time.Until(t.Expires).Round(time.Second).String(), t.Expires.Format(time.RFC3339)
					if time.Now().After(t.Expires) {
						ttl = "<expired>"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, ttl, expires, strings.Join(t.Usages, ","), orNone(t.Description), strings.Join(t.Groups, ","))
			}
			return w.Flush()
		},
	}
	del := &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete bootstrap tokens (by ID or whole token)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, _, err := client()
			if err != nil {
				return err
			}
			for _, id := range args {
				if err := install.DeleteToken(cmd.Context(), cs, id); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", strings.SplitN(id, ".", 2)[0])
			}
			return nil
		},
	}
	var caFile string
	caHash := &cobra.Command{
		Use:   "ca-hash",
		Short: "Print the pin of the cluster CA (the --ca-cert-hash of skiff join)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(caFile)
			if err != nil {
				return fmt.Errorf("--ca-file: %w", err)
			}
			h, err := install.CAHashPEM(data)
			if err != nil {
				return fmt.Errorf("--ca-file %s: %w", caFile, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	caHash.Flags().StringVar(&caFile, "ca-file", filepath.Join(install.DefaultDataDir, "pki", "ca.crt"), "the cluster CA certificate")
	c.AddCommand(create, list, del, caHash)
	return c
}

// clientcmdConfig is the server and CA a kubeconfig names.
type clientcmdConfig struct {
	server string
	caPEM  []byte
}

// configValue reads one key of a component's config, the file and its
// drop-ins (path.d/*.yaml, the last one setting it wins); "" when absent.
func configValue(path, key string) (string, error) {
	files, err := configFiles(path)
	if err != nil {
		return "", err
	}
	value := ""
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		if v, ok := m[key]; ok && v != nil {
			value = fmt.Sprint(v)
		}
	}
	return value, nil
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
