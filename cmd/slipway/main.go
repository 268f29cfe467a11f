// Command slipway is the one binary of Slipway: the server (`up`, `server`)
// and the command-line client of its REST API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/client"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRoot()
	// Inside a local instance the binary is also /opt/aws/bin/cfn-signal.
	if filepath.Base(os.Args[0]) == "cfn-signal" {
		root = cfnSignalCommand()
		root.SilenceUsage, root.SilenceErrors = true, true
	}
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		var ce *client.Error
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "%s\n", ee.msg)
			os.Exit(ee.code)
		}
		if errors.As(err, &ce) {
			fmt.Fprintf(os.Stderr, "error: %s (%s)\n", ce.Message, ce.Code)
		} else {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "slipway",
		Short:         "Slipway: repositories, builds, pipelines and deployments on your own machines",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	g := &globals{}
	root.PersistentFlags().StringVar(&g.url, "url", "", "server URL (default $SLIPWAY_URL, the saved login, or http://127.0.0.1:8080)")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API token (default $SLIPWAY_TOKEN or the saved login)")
	root.PersistentFlags().StringVarP(&g.project, "project", "p", "", "project (default $SLIPWAY_PROJECT or \"default\")")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(
		serverCommand(false), serverCommand(true),
		loginCommand(g), repoCommand(g), userCommand(g), tokenCommand(g),
		projectCommand(g), teamCommand(g), grantCommand(g), auditCommand(g), buildCommand(g), logsCommand(g),
		secretCommand(g), paramCommand(g), stackCommand(g), signalCommand(g),
		pipelineCommand(g), decisionCommand(g, true), decisionCommand(g, false),
		lbCommand(g), dnsCommand(g), fleetCommand(g), instanceInitCommand(), cfnSignalCommand(),
		deployCommand(g), onpremCommand(g), agentCommand(g),
		appCommand(g), blueprintCommand(g),
	)
	return root
}
