package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServer_ServesHTTPSWithTLSFlags(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	s := &server{t: t, data: t.TempDir(), addr: freeAddr(t), extra: []string{"--tls-cert", certFile, "--tls-key", keyFile}}
	s.url = "https://" + s.addr
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, der))
	s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	s.start()
	t.Cleanup(s.stop)
	waitLine(t, s.stdout, 10*time.Second, "the server to announce https", regexp.MustCompile(`https://`), 0)
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP served on the TLS port")
	}
	// The CLI trusts the system's roots and, as every Go program, SSL_CERT_FILE.
	t.Setenv("SSL_CERT_FILE", certFile)
	t.Setenv("GIT_SSL_CAINFO", certFile)
	var users []struct{ Name string }
	s.mustCLI(s.token, &users, "--url", s.url, "user", "list")
	if len(users) != 1 || users[0].Name != "admin" {
		t.Fatalf("users over HTTPS: %+v", users)
	}
	// Git over HTTPS: the pack goes through the server's TLS, not straight
	// to the socket as on plain HTTP.
	s.mustCLI(s.token, nil, "--url", s.url, "repo", "create", "secure")
	work := t.TempDir()
	url := "https://x:" + s.token + "@" + s.addr + "/git/secure.git"
	mustGit(t, work, "clone", "-q", url, "a")
	a := filepath.Join(work, "a")
	mustGit(t, a, "commit", "-q", "--allow-empty", "-m", "over tls")
	mustGit(t, a, "push", "-q", "origin", "HEAD:refs/heads/main")
	mustGit(t, work, "clone", "-q", url, "b")
	if got, want := mustGit(t, filepath.Join(work, "b"), "rev-parse", "HEAD"), mustGit(t, a, "rev-parse", "HEAD"); got != want {
		t.Fatalf("clone over TLS got %s, want %s", got, want)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServer_WarnsAboutPlainHTTPOffLoopbackAndTakesFlagsFromEnvironment(t *testing.T) {
	s := &server{t: t, data: t.TempDir(), addr: freeAddr(t)}
	port := s.addr[strings.LastIndex(s.addr, ":")+1:]
	s.url = "http://" + s.addr
	// The listen address comes from the environment (any address), the data
	// directory from the flag.
	s.env = []string{"SLIPWAY_LISTEN=0.0.0.0:" + port, "SLIPWAY_LOG_FORMAT=json"}
	s.noListenFlag = true
	s.start()
	t.Cleanup(s.stop)
	log := s.log.String()
	if !strings.Contains(log, `"level":"WARN"`) || !strings.Contains(log, "plain HTTP on a non-loopback address") {
		t.Fatalf("no warning about plain HTTP in the log:\n%s", log)
	}
}
