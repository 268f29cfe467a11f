package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/client"
)

// globals are the flags every client verb shares.
type globals struct {
	url, token, project, output string
}

// savedLogin is what `slipway login` writes to the user's config directory.
type savedLogin struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

func loginFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find config directory: %w", err)
	}
	return filepath.Join(dir, "slipway", "login.json"), nil
}

func readLogin() savedLogin {
	var l savedLogin
	if f, err := loginFile(); err == nil {
		if b, err := os.ReadFile(f); err == nil {
			_ = json.Unmarshal(b, &l)
		}
	}
	return l
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// client resolves server and token: flag, then environment, then saved login.
func (g *globals) client() *client.Client {
	l := readLogin()
	return client.New(first(g.url, os.Getenv("SLIPWAY_URL"), l.URL, "http://127.0.0.1:8080"),
		first(g.token, os.Getenv("SLIPWAY_TOKEN"), l.Token))
}

func (g *globals) proj() string {
	return first(g.project, os.Getenv("SLIPWAY_PROJECT"), "default")
}

// print writes v as JSON with --output json, or else calls table.
func (g *globals) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch g.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return fmt.Errorf("--output %q: use table or json", g.output)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func loginCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Save the server URL and an API token (read from standard input) for later commands",
		Long: "Save the server URL (--url) and an API token for later commands, in the user's config directory.\n" +
			"The token is read from --token, $SLIPWAY_TOKEN, or the first line of standard input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url := first(g.url, os.Getenv("SLIPWAY_URL"), "http://127.0.0.1:8080")
			token := first(g.token, os.Getenv("SLIPWAY_TOKEN"))
			if token == "" {
				fmt.Fprint(cmd.ErrOrStderr(), "API token: ")
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				token = strings.TrimSpace(line)
			}
			me, err := client.New(url, token).Me(cmd.Context())
			if err != nil {
				return err
			}
			f, err := loginFile()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
				return err
			}
			b, _ := json.Marshal(savedLogin{URL: url, Token: token})
			if err := os.WriteFile(f, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (saved in %s)\n", url, me.Name, f)
			return nil
		},
	}
}

func repoCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Hosted Git repositories"}
	var desc string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a repository", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.client().CreateRepo(cmd.Context(), g.proj(), args[0], desc)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Created repository %s in project %s\nClone it with: git clone %s\n", r.Name, r.Project, r.CloneURL)
			})
		},
	}
	create.Flags().StringVar(&desc, "description", "", "what the repository holds")
	list := &cobra.Command{
		Use: "list", Short: "List repositories", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := g.client().ListRepos(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), rs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tDESCRIPTION\tCLONE URL\tCREATED")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Description, r.CloneURL, ago(r.CreatedAt))
				}
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a repository", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.client().GetRepo(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Name:\t%s\nProject:\t%s\nDescription:\t%s\nClone URL:\t%s\nCreated:\t%s\n", r.Name, r.Project, r.Description, r.CloneURL, ago(r.CreatedAt))
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a repository and all its data", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteRepo(cmd.Context(), g.proj(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted repository %s\n", args[0])
			return nil
		},
	}
	var limit int
	evs := &cobra.Command{
		Use: "events NAME", Short: "List a repository's push events, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := g.client().RepoEvents(cmd.Context(), g.proj(), args[0], limit)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), es, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tREF\tOLD\tNEW\tPUSHER\tAT")
				for _, e := range es {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Ref, short(e.OldCommit), short(e.NewCommit), e.Pusher, ago(e.At))
				}
			})
		},
	}
	evs.Flags().IntVar(&limit, "limit", 50, "at most this many events")
	grant := &cobra.Command{
		Use: "grant NAME USER|team:NAME ROLE", Short: "Give a user or team a role (read, write, approve, admin) on a repository", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGrant(cmd, g, "repo/"+args[0], args[1], args[2])
		},
	}
	cmd.AddCommand(create, list, get, del, evs, grant)
	return cmd
}

func runGrant(cmd *cobra.Command, g *globals, resource, subject, role string) error {
	gr, err := g.client().Grant(cmd.Context(), g.proj(), resource, subject, role)
	if err != nil {
		return err
	}
	return g.print(cmd.OutOrStdout(), gr, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "Granted %s on %s (project %s) to %s\n", gr.Role, gr.Resource, gr.Project, gr.Subject)
	})
}

func grantCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "grant KIND/NAME|project USER|team:NAME ROLE",
		Short: "Give a user or team a role (read, write, approve, admin) on a resource or on the whole project",
		Example: "  slipway grant repo/web alice write\n  slipway grant project team:ops admin\n  slipway grant app/shop team:web admin\n" +
			"  slipway grant -p payments repo/api team:reviewers approve",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGrant(cmd, g, args[0], args[1], args[2])
		},
	}
}

func userCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Users"}
	var pwStdin, siteAdmin bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a user (give it a token with 'slipway token create --user NAME')", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw := ""
			if pwStdin {
				var err error
				if pw, err = readLine(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			u, err := g.client().CreateUser(cmd.Context(), args[0], pw, siteAdmin)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), u, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Created user %s\n", u.Name)
			})
		},
	}
	create.Flags().BoolVar(&pwStdin, "password-stdin", false, "read a password for console sign-in from standard input")
	create.Flags().BoolVar(&siteAdmin, "site-admin", false, "make the user a site admin (may do everything)")
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			us, err := g.client().ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), us, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSITE ADMIN\tCREATED")
				for _, u := range us {
					fmt.Fprintf(tw, "%s\t%v\t%s\n", u.Name, u.SiteAdmin, ago(u.CreatedAt))
				}
			})
		},
	}
	setPassword := &cobra.Command{
		Use: "set-password NAME", Short: "Set a user's password for console sign-in, read from standard input (your own, or as a site admin anyone's)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readLine(cmd.InOrStdin())
			if err != nil {
				return err
			}
			if err := g.client().SetPassword(cmd.Context(), args[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Set the password of %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, setPassword)
	return cmd
}

// readLine reads one line (a password) from r, without its line end.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func tokenCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "API tokens"}
	var user, name string
	create := &cobra.Command{
		Use: "create", Short: "Create an API token (printed once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.client().CreateToken(cmd.Context(), user, name)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), t, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s\n", t.Token)
				fmt.Fprintf(os.Stderr, "Token %s for %s: store it now, it is not shown again.\n", t.ID, t.User)
			})
		},
	}
	create.Flags().StringVar(&user, "user", "", "create it for this user (site admins)")
	create.Flags().StringVar(&name, "name", "", "a name to recognise the token by")
	list := &cobra.Command{
		Use: "list", Short: "List API tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := g.client().ListTokens(cmd.Context(), user)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tCREATED\tLAST USED")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Name, ago(t.CreatedAt), ago(t.LastUsedAt))
				}
			})
		},
	}
	list.Flags().StringVar(&user, "user", "", "another user's tokens (site admins)")
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().RevokeToken(cmd.Context(), user, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked token %s\n", args[0])
			return nil
		},
	}
	revoke.Flags().StringVar(&user, "user", "", "another user's token (site admins)")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func projectCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Projects: the namespaces resources live in"}
	var desc string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.client().CreateProject(cmd.Context(), args[0], desc)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), p, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Created project %s\n", p.Name)
			})
		},
	}
	create.Flags().StringVar(&desc, "description", "", "what the project is for")
	list := &cobra.Command{
		Use: "list", Short: "List projects", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := g.client().ListProjects(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ps, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tDESCRIPTION\tCREATED")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Description, ago(p.CreatedAt))
				}
			})
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func teamCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "team", Short: "Teams of users that grants can name as team:NAME"}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a team", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.client().CreateTeam(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), t, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Created team %s\n", t.Name)
			})
		},
	}
	add := &cobra.Command{
		Use: "add-member TEAM USER", Short: "Add a user to a team", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().AddMember(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s to team %s\n", args[1], args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List teams and their members", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := g.client().ListTeams(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tMEMBERS")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\n", t.Name, strings.Join(t.Members, ", "))
				}
			})
		},
	}
	cmd.AddCommand(create, add, list)
	return cmd
}

func auditCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The audit log of state-changing requests (site admins)"}
	var q client.AuditQuery
	list := &cobra.Command{
		Use: "list", Short: "List audit entries, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := g.client().AuditLog(cmd.Context(), q)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), es, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "AT\tACTOR\tACTION\tTARGET\tFROM\tOUTCOME")
				for _, e := range es {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s (%d)\n", ago(e.At), e.Actor, e.Action, e.Target, e.RemoteAddr, e.Outcome, e.Status)
				}
			})
		},
	}
	list.Flags().IntVar(&q.Limit, "limit", 50, "at most this many entries")
	list.Flags().StringVar(&q.Actor, "actor", "", "only this user's entries")
	list.Flags().StringVar(&q.Action, "action", "", "only entries whose action holds this text, such as DELETE or /grants")
	cmd.AddCommand(list)
	return cmd
}
