package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/client"
	"github.com/slipway/slipway/fleet"
)

// fleetCommand is `slipway fleet`: instance groups and their instances.
func fleetCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "fleet", Short: "Instance groups (Auto Scaling groups) and their local instances"}
	list := &cobra.Command{
		Use: "list", Short: "List instance groups with their capacity", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gs, err := g.client().InstanceGroups(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), gs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "GROUP\tIN SERVICE\tDESIRED\tMIN\tMAX\tHEALTH CHECK\tLAUNCH CONFIGURATION\tSTACK")
				for _, gr := range gs {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", gr.Name, gr.InService, gr.Desired, gr.MinSize, gr.MaxSize,
						gr.HealthCheckType, gr.LaunchConfiguration, gr.StackName)
				}
			})
		},
	}
	var all bool
	get := &cobra.Command{
		Use: "get GROUP", Short: "Show a group and its instances", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gr, err := g.client().InstanceGroup(cmd.Context(), g.proj(), args[0], all)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), gr, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Group:\t%s\nCapacity:\t%d in service, desired %d (min %d, max %d)\nHealth check:\t%s, grace %ds\nLaunch configuration:\t%s\n",
					gr.Name, gr.InService, gr.Desired, gr.MinSize, gr.MaxSize, gr.HealthCheckType, gr.GracePeriod, gr.LaunchConfiguration)
				if len(gr.TargetGroups) > 0 {
					fmt.Fprintf(tw, "Target groups:\t%s\n", strings.Join(gr.TargetGroups, ", "))
				}
				fmt.Fprintln(tw, "\nINSTANCE\tSTATE\tHEALTH\tMODE\tUP SINCE\tREASON")
				for _, in := range gr.Instances {
					since := ""
					if !in.InServiceAt.IsZero() {
						since = in.InServiceAt.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.State, in.Health, in.Mode, since, in.Reason)
				}
			})
		},
	}
	get.Flags().BoolVar(&all, "all", false, "include terminated instances")
	instance := &cobra.Command{
		Use: "instance ID", Short: "Show one instance, with what its isolation mode means", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := g.client().Instance(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), in, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Instance:\t%s\nGroup:\t%s\nState:\t%s (%s)\nMode:\t%s\n", in.ID, in.Group, in.State, in.Health, in.Description)
				if in.Port != 0 {
					fmt.Fprintf(tw, "Port:\t%d\n", in.Port)
				}
				if in.Reason != "" {
					fmt.Fprintf(tw, "Reason:\t%s\n", in.Reason)
				}
			})
		},
	}
	console := &cobra.Command{
		Use: "console ID", Short: "Print an instance's console log (its user data's output)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.client().InstanceConsole(cmd.Context(), g.proj(), args[0], cmd.OutOrStdout())
		},
	}
	scale := &cobra.Command{
		Use: "scale GROUP DESIRED", Short: "Set a group's desired capacity", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("desired capacity %q: give a whole number", args[1])
			}
			if err := g.client().SetDesiredCapacity(cmd.Context(), g.proj(), args[0], n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Group %s: desired capacity %d\n", args[0], n)
			return nil
		},
	}
	var decrement bool
	terminate := &cobra.Command{
		Use: "terminate ID", Short: "Terminate an instance (its group replaces it unless --decrement)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := g.client().TerminateInstance(cmd.Context(), g.proj(), args[0], decrement)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Instance %s: %s\n", in.ID, in.State)
			return nil
		},
	}
	terminate.Flags().BoolVar(&decrement, "decrement", false, "lower the group's desired capacity instead of replacing the instance")
	cmd.AddCommand(list, get, instance, console, scale, terminate)
	return cmd
}

// instanceInitCommand is the init process of a local instance, started by
// the server; not for people.
func instanceInitCommand() *cobra.Command {
	return &cobra.Command{
		Use: "instance-init DIR", Hidden: true, Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return fleet.Init(args[0]) },
	}
}

// instanceClient is the client of a process inside a local instance: the
// server's Unix socket, with the instance's credential. ok is false
// outside an instance.
func instanceClient() (c *client.Client, cfg fleet.InstanceConfig, ok bool, err error) {
	path := os.Getenv("SLIPWAY_INSTANCE_CONFIG")
	if path == "" {
		return nil, cfg, false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, cfg, false, fmt.Errorf("the instance's configuration: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, cfg, false, fmt.Errorf("the instance's configuration %s: %w", path, err)
	}
	// The socket's path may be long outside a namespace; the descriptor
	// that shortens it lives as long as this command.
	sock, _, err := fleet.ShortSocketPath(fleet.InstanceSocket(path))
	if err != nil {
		return nil, cfg, false, err
	}
	return client.NewUnix(sock, cfg.Token), cfg, true, nil
}

// cfnSignalCommand is cfn-signal as AWS's helper scripts spell it, for
// user data written for EC2: `cfn-signal -e $? --stack S --resource R`.
// Inside a local instance /opt/aws/bin/cfn-signal is this command.
func cfnSignalCommand() *cobra.Command {
	var exitCode int
	var success, stackName, resource, reason, uniqueID, region, url, role string
	cmd := &cobra.Command{
		Use:   "cfn-signal [-e EXIT_CODE | -s true|false] --stack STACK --resource RESOURCE",
		Short: "Signal a CreationPolicy from inside a local instance (AWS's cfn-signal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, cfg, ok, err := instanceClient()
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("cfn-signal runs inside a local instance (it reads $SLIPWAY_INSTANCE_CONFIG); elsewhere use: slipway signal --stack S --resource R --status SUCCESS")
			}
			status := "SUCCESS"
			if exitCode != 0 || strings.EqualFold(success, "false") {
				status = "FAILURE"
			}
			if err := c.InstanceSignal(cmd.Context(), stackName, resource, status, uniqueID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cfn-signal: sent %s to %s of stack %s from %s\n", status,
				first(resource, cfg.Resource), first(stackName, cfg.Stack), first(uniqueID, cfg.InstanceID))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&exitCode, "exit-code", "e", 0, "0 signals SUCCESS, anything else FAILURE")
	f.StringVarP(&success, "success", "s", "true", "false signals FAILURE")
	f.StringVar(&stackName, "stack", "", "the stack (default: the one that launched this instance)")
	f.StringVar(&resource, "resource", "", "the logical ID of the waiting resource (default: this instance's group)")
	f.StringVarP(&reason, "reason", "r", "", "why (recorded in the log)")
	f.StringVarP(&uniqueID, "id", "i", "", "who signals (default: this instance's ID)")
	f.StringVar(&region, "region", "", "accepted for compatibility")
	f.StringVarP(&url, "url", "u", "", "accepted for compatibility")
	f.StringVar(&role, "role", "", "accepted for compatibility")
	for _, n := range []string{"region", "url", "role"} {
		_ = f.MarkHidden(n)
	}
	return cmd
}
