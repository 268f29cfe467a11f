package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveFlags_FlagBeatsEnvironmentBeatsConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slipway.yml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9001\ndata: /from/file\nlog-format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLIPWAY_DATA", "/from/env")
	t.Setenv("SLIPWAY_LOG_LEVEL", "debug")
	cmd := serverCommand(false)
	if err := cmd.ParseFlags([]string{"--listen", "127.0.0.1:9002"}); err != nil {
		t.Fatal(err)
	}
	if err := resolveFlags(cmd.Flags(), file); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"listen":     "127.0.0.1:9002", // flag
		"data":       "/from/env",      // environment over file
		"log-level":  "debug",          // environment
		"log-format": "json",           // file
		"database":   "",               // default
	} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("%s = %q, want %q", flag, got, want)
		}
	}
}

func TestResolveFlags_UnknownConfigKeyIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slipway.yml")
	if err := os.WriteFile(file, []byte("lisen: 127.0.0.1:9001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := serverCommand(false)
	err := resolveFlags(cmd.Flags(), file)
	if err == nil || !strings.Contains(err.Error(), `unknown key "lisen"`) {
		t.Fatalf("got %v", err)
	}
}
