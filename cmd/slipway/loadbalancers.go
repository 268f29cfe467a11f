package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/client"
)

// tgName is a target group's name, read from its ARN
// (...:targetgroup/NAME/ID).
func tgName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// describeAction says what an action does in a few words.
func describeAction(as []client.LBAction) string {
	if len(as) != 1 {
		return fmt.Sprintf("%d actions", len(as))
	}
	a := as[0]
	switch {
	case a.Type == "forward":
		return "forward to " + tgName(a.TargetGroupARN)
	case a.FixedResponse != nil:
		s := fmt.Sprintf("fixed response %d", a.FixedResponse.StatusCode)
		if a.FixedResponse.MessageBody != "" {
			s += fmt.Sprintf(" %.40q", a.FixedResponse.MessageBody)
		}
		return s
	case a.Redirect != nil:
		r := a.Redirect
		var parts []string
		for _, p := range [][2]string{{"protocol", r.Protocol}, {"host", r.Host}, {"port", r.Port}, {"path", r.Path}, {"query", r.Query}} {
			if p[1] != "" {
				parts = append(parts, p[0]+" "+p[1])
			}
		}
		return fmt.Sprintf("redirect %d (%s)", r.StatusCode, strings.Join(parts, ", "))
	}
	return a.Type
}

// listenerMapping is "port 80 → 127.0.0.1:8081", or "port 8080" when the
// port is served as it is.
func listenerMapping(l client.Listener) string {
	if _, port, err := net.SplitHostPort(l.LocalAddress); err == nil && port == strconv.Itoa(l.Port) {
		return fmt.Sprintf("port %d on %s", l.Port, l.LocalAddress)
	}
	return fmt.Sprintf("port %d → %s", l.Port, l.LocalAddress)
}

// parseTargets reads ID[:PORT] words; an IPv6 address with a port is
// written [ADDRESS]:PORT.
func parseTargets(words []string) ([]client.Target, error) {
	var out []client.Target
	for _, w := range words {
		id, port := w, ""
		if strings.HasPrefix(w, "[") || strings.Count(w, ":") == 1 {
			h, p, err := net.SplitHostPort(w)
			if err != nil {
				return nil, fmt.Errorf("target %q: write ID or ID:PORT ([IPV6]:PORT for an IPv6 address)", w)
			}
			id, port = h, p
		}
		t := client.Target{ID: id}
		if port != "" {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", w, port)
			}
			t.Port = n
		}
		out = append(out, t)
	}
	return out, nil
}

func targetTable(tw *tabwriter.Writer, th []client.TargetHealth) {
	if len(th) == 0 {
		fmt.Fprintln(tw, "No targets registered.")
		return
	}
	fmt.Fprintln(tw, "ID\tPORT\tSTATE\tREASON\tDESCRIPTION")
	for _, t := range th {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.ID, t.Port, t.State, t.Reason, t.Description)
	}
}

func lbCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "lb", Short: "Load balancers: listeners, rules, target groups and their targets",
		Long: "Load balancers (AWS::ElasticLoadBalancingV2::* resources of stacks). Every load balancer with a\n" +
			"listener on a port shares that port's local address, and requests reach a load balancer by their\n" +
			"Host: NAME.lb.localhost, or a name a DNS record aliases to it. Listener ports below 1024 map to\n" +
			"local ports (the server's --lb-port-map; port 80 to 8081 by default), which 'slipway lb list' shows."}
	list := &cobra.Command{
		Use: "list", Short: "List load balancers with their DNS names and where each listener port is served", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lbs, err := g.client().ListLoadBalancers(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), lbs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tDNS NAME\tLISTENERS\tCREATED")
				for _, l := range lbs {
					var ls []string
					for _, li := range l.Listeners {
						ls = append(ls, listenerMapping(li))
					}
					if len(ls) == 0 {
						ls = []string{"none"}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.DNSName, strings.Join(ls, ", "), ago(l.CreatedAt))
				}
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a load balancer: listeners, rules, target groups and target health", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := g.client().GetLoadBalancer(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
				l := d.LoadBalancer
				fmt.Fprintf(tw, "Name:\t%s\nDNS name:\t%s\t(http://%s)\nARN:\t%s\nScheme:\t%s\nCreated:\t%s\n",
					l.Name, l.DNSName, l.DNSName, l.ARN, l.Scheme, ago(l.CreatedAt))
				fmt.Fprintln(tw, "\nListeners:")
				if len(d.Listeners) == 0 {
					fmt.Fprintln(tw, "  none")
				}
				for _, li := range d.Listeners {
					fmt.Fprintf(tw, "  %s (%s)\n", listenerMapping(li), li.Protocol)
					for _, r := range li.Rules {
						var conds []string
						for _, c := range r.Conditions {
							conds = append(conds, c.Field+" "+strings.Join(c.Values, " or "))
						}
						fmt.Fprintf(tw, "    rule %d:\t%s\t→ %s\n", r.Priority, strings.Join(conds, " and "), describeAction(r.Actions))
					}
					fmt.Fprintf(tw, "    default:\t\t→ %s\n", describeAction(li.DefaultActions))
				}
				fmt.Fprintln(tw, "\nTarget groups:")
				if len(d.TargetGroups) == 0 {
					fmt.Fprintln(tw, "  none")
				}
				for _, tg := range d.TargetGroups {
					hc := tg.HealthCheck
					fmt.Fprintf(tw, "  %s (%s, port %d; health check GET %s on %s every %ds, healthy after %d, unhealthy after %d, codes %s; deregistration delay %ds)\n",
						tg.Name, tg.TargetType, tg.Port, hc.Path, hc.Port, hc.IntervalSeconds,
						hc.HealthyThreshold, hc.UnhealthyThreshold, hc.Matcher, tg.DeregistrationDelay)
					for _, t := range tg.Targets {
						fmt.Fprintf(tw, "    %s:%d\t%s\t%s\n", t.ID, t.Port, t.State, t.Reason)
					}
					if len(tg.Targets) == 0 {
						fmt.Fprintln(tw, "    no targets")
					}
				}
			})
		},
	}
	targets := &cobra.Command{
		Use: "targets TARGET-GROUP", Short: "Show the health of a target group's targets", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			th, err := g.client().TargetHealth(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), th, func(tw *tabwriter.Writer) { targetTable(tw, th) })
		},
	}
	groups := &cobra.Command{
		Use: "target-groups", Short: "List target groups and how many targets each has in each state", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tgs, err := g.client().ListTargetGroups(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), tgs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tTYPE\tPORT\tLOAD BALANCERS\tTARGETS")
				for _, tg := range tgs {
					counts := map[string]int{}
					var states []string
					for _, t := range tg.Targets {
						if counts[t.State] == 0 {
							states = append(states, t.State)
						}
						counts[t.State]++
					}
					var parts []string
					for _, s := range states {
						parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
					}
					if len(parts) == 0 {
						parts = []string{"none"}
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", tg.Name, tg.TargetType, tg.Port, len(tg.LoadBalancerARNs), strings.Join(parts, ", "))
				}
			})
		},
	}
	register := &cobra.Command{
		Use: "register TARGET-GROUP ID[:PORT]...", Short: "Register targets (instance IDs, or IP addresses) with a target group",
		Example: "  slipway lb register web-tg i-0abc i-0def:8080\n  slipway lb register api-tg 127.0.0.1:9000",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := parseTargets(args[1:])
			if err != nil {
				return err
			}
			th, err := g.client().RegisterTargets(cmd.Context(), g.proj(), args[0], ts)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), th, func(tw *tabwriter.Writer) { targetTable(tw, th) })
		},
	}
	var wait bool
	deregister := &cobra.Command{
		Use: "deregister TARGET-GROUP ID[:PORT]...", Short: "Deregister targets (without a port: on every port): they finish their requests (up to the deregistration delay) and are dropped",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := parseTargets(args[1:])
			if err != nil {
				return err
			}
			c := g.client()
			if wait {
				// Draining takes up to the group's deregistration delay.
				c.HTTP.Timeout = 0
			}
			th, err := c.DeregisterTargets(cmd.Context(), g.proj(), args[0], ts, wait)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), th, func(tw *tabwriter.Writer) { targetTable(tw, th) })
		},
	}
	deregister.Flags().BoolVar(&wait, "wait", false, "return only once the targets have drained")
	cmd.AddCommand(list, get, groups, targets, register, deregister)
	return cmd
}

func dnsCommand(g *globals) *cobra.Command {
	zones := func(cmd *cobra.Command, _ []string) error {
		z, err := g.client().ListHostedZones(cmd.Context(), g.proj())
		if err != nil {
			return err
		}
		return g.print(cmd.OutOrStdout(), z, func(tw *tabwriter.Writer) {
			dnsServer(tw, z.DNSAddress)
			if len(z.HostedZones) == 0 {
				fmt.Fprintln(tw, "No hosted zones.")
				return
			}
			fmt.Fprintln(tw, "ID\tNAME\tRECORD SETS\tCOMMENT")
			for _, hz := range z.HostedZones {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", hz.ID, hz.Name, hz.RecordSetCount, hz.Comment)
			}
		})
	}
	cmd := &cobra.Command{Use: "dns", Short: "Hosted zones and their records, and where the DNS server answers",
		Long: "Hosted zones and record sets (AWS::Route53::* resources of stacks). The server answers for them\n" +
			"on its DNS address (the server's --dns-listen); 'slipway dns' says which. Alias records make their\n" +
			"names reach the load balancer they point at.",
		Args: cobra.NoArgs, RunE: zones}
	list := &cobra.Command{Use: "zones", Short: "List hosted zones", Args: cobra.NoArgs, RunE: zones}
	records := &cobra.Command{
		Use: "records ZONE", Short: "List a zone's record sets (ZONE: its ID or name)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := g.client().GetHostedZone(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
				dnsServer(tw, d.DNSAddress)
				fmt.Fprintf(tw, "Zone %s (%s)\n", d.HostedZone.Name, d.HostedZone.ID)
				if len(d.RecordSets) == 0 {
					fmt.Fprintln(tw, "No record sets.")
					return
				}
				fmt.Fprintln(tw, "NAME\tTYPE\tTTL\tVALUE")
				for _, rs := range d.RecordSets {
					value, ttl := strings.Join(rs.Values, " "), strconv.Itoa(rs.TTL)
					if rs.Alias != nil {
						value, ttl = "ALIAS "+rs.Alias.DNSName, "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rs.Name, rs.Type, ttl, value)
				}
			})
		},
	}
	cmd.AddCommand(list, records)
	return cmd
}

// dnsServer says where the DNS server answers, with a dig command.
func dnsServer(tw *tabwriter.Writer, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if addr == "" || err != nil {
		fmt.Fprintln(tw, "The server runs no DNS server (start it with --dns-listen HOST:PORT).")
		return
	}
	fmt.Fprintf(tw, "DNS server: %s (query it with: dig @%s -p %s NAME)\n\n", addr, host, port)
}
