package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsAndParams_SetFromTheCLIAndNeverShownAgain(t *testing.T) {
	s := startServer(t)
	if fi, err := os.Stat(filepath.Join(s.data, "secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v %v", fi, err)
	}
	cmd := exec.Command(binary, "secret", "set", "prod/db-password")
	cmd.Env = append(gitEnv(t), "SLIPWAY_URL="+s.url, "SLIPWAY_TOKEN="+s.token)
	cmd.Stdin = strings.NewReader("correct-horse-battery\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret set: %v\n%s", err, out)
	}
	var secrets []struct{ Name, Value string }
	out := s.mustCLI(s.token, &secrets, "secret", "list")
	if len(secrets) != 1 || secrets[0].Name != "prod/db-password" || strings.Contains(out, "correct-horse") {
		t.Fatalf("secret list: %s", out)
	}
	s.mustCLI(s.token, nil, "param", "set", "/app/url", "http://app.local")
	if got := strings.TrimSpace(s.mustCLI(s.token, nil, "param", "get", "/app/url")); got != "http://app.local" {
		t.Fatalf("param get: %q", got)
	}
	// The value is in the database only sealed.
	s.stop()
	db, err := os.ReadFile(filepath.Join(s.data, "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte("correct-horse")) {
		t.Fatal("the secret is readable in the database file")
	}
	if strings.Contains(s.log.String(), "correct-horse") {
		t.Fatal("the secret appears in the server log")
	}
}
