// Package web is the web console: server-rendered pages over the same REST
// API as the CLI. Every page talks to the API through client.Client with
// the signed-in user's API token, so the API's permission checks apply to
// everything the console shows or does; the console imports no service.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/client"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const (
	// cookieName holds "ID.TOKEN": the id and the secret of the API token
	// signing in made.
	cookieName    = "slipway_session"
	sessionMaxAge = 12 * time.Hour
	// defaultProject is the project pages show without ?project=.
	defaultProject = "default"
	// maxForm bounds the body of a form post.
	maxForm = 64 << 10
	// csp forbids inline scripts and styles: the console's JS and CSS are
	// files under /static.
	csp = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// Config configures the console.
type Config struct {
	// API is the base URL of the REST API, e.g. http://127.0.0.1:8080
	// (the same server).
	API string
	// Secure says the console is served over HTTPS: cookies get Secure.
	Secure bool
	Log    *slog.Logger
	// Poll is how often a live page looks for changes; default 100ms, so
	// that a change shows within 200ms with the page's render.
	Poll time.Duration
	// Transport carries the console's API requests; nil is
	// http.DefaultTransport. The server gives one that dials a listener in
	// memory only the console reaches: no TLS certificate to trust, and the
	// API believes the browser's address the console forwards on it.
	Transport http.RoundTripper
}

// Console is the web console.
type Console struct {
	cfg       Config
	log       *slog.Logger
	pages     map[string]*template.Template
	assets    map[string]*asset
	keepalive time.Duration
}

// asset is an embedded static file.
type asset struct {
	body    []byte
	ctype   string
	etag    string
	version string
}

// New parses the templates and loads the static files.
func New(cfg Config) (*Console, error) {
	u, err := url.Parse(cfg.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("web: the API's base URL %q is not an http(s) URL", cfg.API)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	c := &Console{cfg: cfg, log: cfg.Log, pages: map[string]*template.Template{}, assets: map[string]*asset{}, keepalive: 15 * time.Second}
	if err := c.loadAssets(); err != nil {
		return nil, err
	}
	// Every page shares the layout and the partials (files named _*.html);
	// each other file is a page that defines "main".
	base, err := template.New("layout.html").Funcs(c.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	for _, f := range files {
		file := path.Base(f)
		if file == "layout.html" || strings.HasPrefix(file, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", file, err)
		}
		c.pages[strings.TrimSuffix(file, ".html")] = t
	}
	return c, nil
}

func (c *Console) loadAssets() error {
	// The stylesheets under static/css are served as one, app.css, in the
	// order of their names; base.css comes first.
	var css bytes.Buffer
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		if path.Dir(p) == "static/css" {
			if path.Base(p) == "base.css" {
				b = append(b, css.Bytes()...)
				css.Reset()
			}
			css.Write(b)
			return nil
		}
		c.addAsset(path.Base(p), b)
		return nil
	})
	if err != nil {
		return err
	}
	c.addAsset("app.css", css.Bytes())
	return nil
}

func (c *Console) addAsset(name string, b []byte) {
	sum := sha256.Sum256(b)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	v := hex.EncodeToString(sum[:6])
	c.assets[name] = &asset{body: b, ctype: ctype, etag: `"` + v + `"`, version: v}
}

// Handler returns the whole console. It serves none of /api/, /git/,
// /healthz or /metrics, which the server routes beside it.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.home)
	mux.HandleFunc("GET /login", c.loginForm)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.logout)
	mux.Handle("GET /apps", c.authed(c.apps))
	mux.Handle("GET /apps/{name}", c.authed(c.app))
	mux.Handle("POST /apps/{name}/approvals", c.authed(c.decide))
	mux.Handle("GET /apps/{name}/live", c.authed(c.live))
	mux.Handle("GET /tokens", c.authed(c.tokens))
	mux.Handle("POST /tokens", c.authed(c.createToken))
	mux.Handle("POST /tokens/{id}/revoke", c.authed(c.revokeToken))
	c.newAppRoutes(mux)
	c.pipelineRoutes(mux)
	c.buildRoutes(mux)
	c.deploymentRoutes(mux)
	c.stackRoutes(mux)
	c.fleetRoutes(mux)
	c.repoRoutes(mux)
	c.adminRoutes(mux)
	mux.HandleFunc("GET /static/{file}", c.static)
	mux.HandleFunc("/", c.notFound)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(c.crossOrigin))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets the headers every answer carries. Pages are not
// cached (one shows a token's secret); /static overrides Cache-Control.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// session is a signed-in user's API token, from the session cookie.
type session struct {
	id     string
	secret string
	api    *client.Client
	// who is the API's answer to who the user is, asked once a request.
	who *client.Me
}

// me asks the API who the signed-in user is, once for the request.
func (s *session) me(ctx context.Context) (*client.Me, error) {
	if s.who == nil {
		me, err := s.api.Me(ctx)
		if err != nil {
			return nil, err
		}
		s.who = me
	}
	return s.who, nil
}

// session reads the session cookie; ok is false without a well-formed one.
func (c *Console) session(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	id, secret, ok := strings.Cut(ck.Value, ".")
	if !ok || id == "" || secret == "" || len(ck.Value) > 512 {
		return nil, false
	}
	return &session{id: id, secret: secret, api: c.client(r, secret)}, true
}

func (c *Console) setSession(w http.ResponseWriter, s *client.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: s.ID + "." + s.Token, Path: "/",
		MaxAge: int(sessionMaxAge / time.Second), HttpOnly: true, Secure: c.cfg.Secure, SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.cfg.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// handlerFunc is a page that needs a session. An error it returns (before
// writing anything) becomes a redirect to sign in (the API refused the
// token) or an error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session) error

func (c *Console) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			c.toLogin(w, r, false)
			return
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// toLogin sends the browser to sign in, back to the page it asked for
// afterwards; clear also drops the session cookie.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, clear bool) {
	if clear {
		c.clearSession(w)
	}
	target := "/login"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next := r.URL.Path
		// After signing in, a live stream's page, not the stream.
		if strings.HasSuffix(next, "/live") {
			next = strings.TrimSuffix(next, "/live")
		}
		if r.URL.RawQuery != "" {
			next += "?" + r.URL.RawQuery
		}
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// apiStatus is the status of an API error, or 0 for another error.
func apiStatus(err error) (int, string) {
	var ae *client.Error
	if errors.As(err, &ae) {
		return ae.Status, ae.Message
	}
	return 0, ""
}

// refusal splits an error the API answered, which the page shows with
// its status and message (a refusal, a conflict, a missing object), from
// one it cannot show (the API unreachable, the token refused), returned
// as err for the page to fail with.
func refusal(err error) (status int, msg string, _ error) {
	status, msg = apiStatus(err)
	if status == 0 || status == http.StatusUnauthorized {
		return 0, "", err
	}
	return status, msg, nil
}

// fail answers an error of a page: a refused token signs the user out,
// an API error shows its message and status, anything else a 502.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if r.Context().Err() != nil {
		return
	}
	status, msg := apiStatus(err)
	switch {
	case status == http.StatusUnauthorized:
		c.log.Info("web: the API refused the session's token; signing out", "path", r.URL.Path)
		c.toLogin(w, r, true)
		return
	case status == 0:
		// The API did not answer: the error page does not ask it who the
		// user is either.
		c.log.Error("web: API request failed", "path", r.URL.Path, "err", err)
		status = http.StatusBadGateway
		c.render(w, r, nil, status, "error", &pageData{Title: http.StatusText(status), SignedIn: true, Status: status,
			Message: "The console could not get an answer from the Slipway API. Try again in a moment."})
		return
	default:
		c.log.Info("web: API error", "path", r.URL.Path, "status", status, "err", msg)
	}
	c.errorPage(w, r, s, status, msg)
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	c.render(w, r, s, status, "error", &pageData{Title: title, Message: msg, Status: status})
}

// pageData is what the layout and the pages read.
type pageData struct {
	Title    string
	SignedIn bool
	User     string
	Nav      string
	Live     bool
	// Scripts are a page's own scripts under /static, besides live.js.
	Scripts []string
	Project string
	// Error is shown at the top of the page.
	Error string

	Message string
	Status  int

	Login  *loginView
	Apps   []appRow
	View   *appView
	Tokens *tokensView
	// Body is the view of any other page; its template knows its type.
	Body any
}

// render writes a page. With a session it first asks the API who the user
// is, for the header; a refused token signs the user out instead.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, d *pageData) {
	if s != nil {
		d.SignedIn = true
		me, err := s.me(r.Context())
		if st, _ := apiStatus(err); st == http.StatusUnauthorized {
			c.toLogin(w, r, true)
			return
		}
		if err != nil {
			c.log.Warn("web: cannot tell who is signed in", "err", err)
		} else {
			d.User = me.Name
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		c.log.Error("web: render page", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); ok {
		http.Redirect(w, r, "/apps", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// notFound answers paths the console does not have. The API's, Git's and
// the probes' paths get a bare 404: the server routes those elsewhere.
func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	for _, prefix := range []string{"/api/", "/git/", "/healthz", "/metrics"} {
		if strings.HasPrefix(p, prefix) || p+"/" == prefix {
			http.NotFound(w, r)
			return
		}
	}
	c.render(w, r, nil, http.StatusNotFound, "error", &pageData{Title: "Not found", Message: "There is no such page.", Status: http.StatusNotFound})
}

// crossOrigin answers an unsafe cross-origin request, which the CSRF
// protection refused.
func (c *Console) crossOrigin(w http.ResponseWriter, r *http.Request) {
	c.log.Warn("web: refused a cross-origin request", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
	c.render(w, r, nil, http.StatusForbidden, "error", &pageData{Title: "Forbidden",
		Message: "This request came from another site, so it was refused.", Status: http.StatusForbidden})
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// download sends body as the attachment name, of type ctype and size
// bytes (-1 when not known), with extra headers.
func (c *Console) download(w http.ResponseWriter, r *http.Request, body io.Reader, name, ctype string, size int64, extra http.Header) {
	h := w.Header()
	for k, vs := range extra {
		h[k] = vs
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		if r.Context().Err() == nil {
			c.log.Warn("web: download cut short", "path", r.URL.Path, "err", err)
		}
		// The status is sent: a broken connection tells the browser the
		// download failed, where a short body would pass for the file.
		panic(http.ErrAbortHandler)
	}
}

// byteSize is a size in bytes for people: 512 B, 2.4 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// parseForm reads a bounded form body. Its error is one a page fails
// with: a 400 page that says so.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return &client.Error{Status: http.StatusBadRequest, Code: "invalid_form", Message: "The form could not be read."}
	}
	return nil
}

// localPath is next when it is a path on this site, else /apps.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return "/apps"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/apps"
	}
	return next
}

// projectOf is the project a page shows.
func projectOf(r *http.Request) string {
	if p := r.FormValue("project"); p != "" {
		return p
	}
	return defaultProject
}

// appURL is an application's page (or a path below it, suffix), with the
// project when it is not the default one.
func appURL(name, project, suffix string) string {
	return withProject("/apps/"+url.PathEscape(name)+suffix, project)
}

// withProject adds ?project= to a console path when the project is not
// the default one.
func withProject(p, project string) string {
	if project != "" && project != defaultProject {
		p += "?project=" + url.QueryEscape(project)
	}
	return p
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"short":    short,
		"kind":     statusKind,
		"symbol":   statusSymbol,
		"appURL":   appURL,
		"health":   instancesHealth,
		"stackURL": func(name, project string) string { return infraStackURL(name, project, "") },
		"fleetURL": func(project string) string { return withProject("/fleet", project) },
		"repoURL":  func(name, project string) string { return repoHref(project, name, "") },
		"asset": func(name string) string {
			if a, ok := c.assets[name]; ok {
				return "/static/" + name + "?v=" + a.version
			}
			return "/static/" + name
		},
		"dataAttr": dataAttr,
		"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
}

// short is a commit's first 12 characters.
func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// dataAttr writes a data attribute whose value is text. html/template
// reads data-action as a URL attribute (it drops "data-" and sees
// "action") and would percent-encode the value; this escapes it as HTML.
func dataAttr(name, value string) template.HTMLAttr {
	return template.HTMLAttr(name + `="` + template.HTMLEscapeString(value) + `"`)
}

// client is an API client with token, for the browser's request r: the
// API hears the browser's address in X-Forwarded-For (and believes it only
// from the server's own console).
func (c *Console) client(r *http.Request, token string) *client.Client {
	cl := client.New(c.cfg.API, token)
	base := c.cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	from, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		from = r.RemoteAddr
	}
	cl.HTTP.Transport = forwardFor{base: base, addr: from}
	return cl
}

// forwardFor names the browser's address on every request to the API.
type forwardFor struct {
	base http.RoundTripper
	addr string
}

func (f forwardFor) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.addr == "" {
		return f.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("X-Forwarded-For", f.addr)
	return f.base.RoundTrip(req)
}
