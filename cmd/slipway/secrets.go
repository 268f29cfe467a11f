package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func secretCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "A project's secrets, for builds (values are never shown again)"}
	set := &cobra.Command{
		Use: "set NAME", Short: "Set a secret from standard input (never from the command line, which shells keep)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := io.ReadAll(io.LimitReader(bufio.NewReader(cmd.InOrStdin()), 64<<10+1))
			if err != nil {
				return err
			}
			if len(b) > 64<<10 {
				return errors.New("a secret holds at most 64 KiB")
			}
			value := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			if err := g.client().SetSecret(cmd.Context(), g.proj(), args[0], value); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Set secret %s in project %s\n", args[0], g.proj())
			return nil
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List secret names", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := g.client().ListSecrets(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), es, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tUPDATED")
				for _, e := range es {
					fmt.Fprintf(tw, "%s\t%s\n", e.Name, ago(e.UpdatedAt))
				}
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a secret", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteSecret(cmd.Context(), g.proj(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted secret %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(set, list, del)
	return cmd
}

func paramCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "param", Short: "A project's parameters: configuration values for builds"}
	set := &cobra.Command{
		Use: "set NAME VALUE", Short: "Set a parameter", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.client().SetParam(cmd.Context(), g.proj(), args[0], args[1])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), e, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Set parameter %s\n", e.Name)
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Print a parameter's value", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.client().Param(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), e, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, e.Value)
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List parameters", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := g.client().ListParams(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), es, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tVALUE\tUPDATED")
				for _, e := range es {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Value, ago(e.UpdatedAt))
				}
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a parameter", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteParam(cmd.Context(), g.proj(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted parameter %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(set, get, list, del)
	return cmd
}
