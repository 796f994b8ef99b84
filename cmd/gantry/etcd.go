package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/internal/state"
)

// etcdCmd groups the administration of the servers' embedded etcd
// cluster: its certificate authority and its members.
func etcdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "Administer the embedded etcd of a cluster of servers",
	}
	cmd.AddCommand(etcdInitPKICmd(), etcdMembersCmd(), etcdRemoveMemberCmd())
	return cmd
}

func etcdInitPKICmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "init-pki",
		Short: "Create the certificate authority the members of an etcd cluster share (ca.crt, ca.key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			if err := state.InitPKI(dir); err != nil {
				return err
			}
			fmt.Printf("Created the etcd certificate authority in %s.\nCopy the directory to every server (keep ca.key secret) and start each with --etcd-pki-dir %s.\n", dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create (0700; ca.key is written 0600)")
	return cmd
}

// adminFlags binds the flags that reach a running cluster.
func adminFlags(cmd *cobra.Command, endpoints *[]string, pkiDir *string) {
	cmd.Flags().StringSliceVar(endpoints, "endpoints", envList("GANTRY_ETCD_ENDPOINTS"), "client URLs of members (https://host:port, a server's --etcd-client-listen) ($GANTRY_ETCD_ENDPOINTS)")
	cmd.Flags().StringVar(pkiDir, "etcd-pki-dir", env("GANTRY_ETCD_PKI_DIR", ""), "directory of the cluster's certificate authority ($GANTRY_ETCD_PKI_DIR)")
}

func checkAdminFlags(endpoints []string, pkiDir string) error {
	if len(endpoints) == 0 || pkiDir == "" {
		return fmt.Errorf("--endpoints and --etcd-pki-dir are required")
	}
	return nil
}

func etcdMembersCmd() *cobra.Command {
	var endpoints []string
	var pkiDir string
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the members of the embedded etcd cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAdminFlags(endpoints, pkiDir); err != nil {
				return err
			}
			ms, err := state.Members(cmd.Context(), endpoints, pkiDir)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tID\tPEER URLS\tCLIENT URLS")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%x\t%s\t%s\n", m.Name, m.ID, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","))
			}
			return w.Flush()
		},
	}
	adminFlags(cmd, &endpoints, &pkiDir)
	return cmd
}

func etcdRemoveMemberCmd() *cobra.Command {
	var endpoints []string
	var pkiDir string
	cmd := &cobra.Command{
		Use:   "remove-member NAME",
		Short: "Remove a member (a server's --etcd-name) from the embedded etcd cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAdminFlags(endpoints, pkiDir); err != nil {
				return err
			}
			if err := state.RemoveMember(cmd.Context(), endpoints, pkiDir, args[0]); err != nil {
				return err
			}
			fmt.Printf("Removed %s. To bring that server back, empty its <data-dir>/etcd and start it with --etcd-join.\n", args[0])
			return nil
		},
	}
	adminFlags(cmd, &endpoints, &pkiDir)
	return cmd
}
