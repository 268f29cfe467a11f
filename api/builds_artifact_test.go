package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A build's artifact is downloaded as the store holds it, with its digest;
// unknown names and content gone from the store are 404s.
func TestBuildArtifact_DownloadsTheStoredArtifact(t *testing.T) {
	f := newFixture(t)
	f.api.Builds.Register(f.jobs)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = f.jobs.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/build-projects", map[string]string{"name": "art"}); code != 201 {
		t.Fatalf("create build project: %d %s", code, b)
	}
	var src bytes.Buffer
	zw := zip.NewWriter(&src)
	w, _ := zw.Create("buildspec.yml")
	_, _ = io.WriteString(w, "version: 0.2\nphases:\n  build:\n    commands:\n      - echo made > out.txt\nartifacts:\n  files:\n    - out.txt\n  name: site.zip\n")
	_ = zw.Close()
	code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/build-projects/art/builds", rawBody{"application/zip", src.Bytes()})
	if code != 201 {
		t.Fatalf("start build: %d %s", code, b)
	}
	var bld struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Artifacts []struct {
			Identifier string `json:"identifier"`
			Name       string `json:"name"`
			Digest     string `json:"digest"`
			Size       int64  `json:"size"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &bld); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for bld.Status == "IN_PROGRESS" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		code, b = f.do(t, "admin", "GET", "/api/v1/projects/default/builds/"+bld.ID, nil)
		if code != 200 || json.Unmarshal(b, &bld) != nil {
			t.Fatalf("get build: %d %s", code, b)
		}
	}
	if bld.Status != "SUCCEEDED" || len(bld.Artifacts) != 1 || bld.Artifacts[0].Name != "site.zip" {
		_, logs := f.do(t, "admin", "GET", "/api/v1/projects/default/builds/"+bld.ID+"/logs", nil)
		t.Fatalf("build %+v\n%s", bld, logs)
	}
	ref := bld.Artifacts[0]

	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/projects/default/builds/"+bld.ID+"/artifacts/site.zip", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download: %d %v %s", resp.StatusCode, err, body)
	}
	if got := resp.Header.Get("X-Artifact-Digest"); got != ref.Digest {
		t.Errorf("X-Artifact-Digest %q, want %q", got, ref.Digest)
	}
	if disp, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); disp != "attachment" || params["filename"] != "site.zip" {
		t.Errorf("Content-Disposition %q", resp.Header.Get("Content-Disposition"))
	}
	if resp.Header.Get("Content-Type") != "application/zip" || int64(len(body)) != ref.Size {
		t.Errorf("Content-Type %q, %d bytes (the build says %d)", resp.Header.Get("Content-Type"), len(body), ref.Size)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("the download is not the zip: %v", err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "out.txt" {
		t.Errorf("the artifact holds %v", zr.File)
	}

	code, b = f.do(t, "admin", "GET", "/api/v1/projects/default/builds/"+bld.ID+"/artifacts/nosuch.zip", nil)
	if code != 404 || !strings.Contains(string(b), "artifact nosuch.zip of build "+bld.ID+" not found") {
		t.Errorf("unknown artifact: %d %s", code, b)
	}
	// Content deleted from the store is reported missing, not a 500.
	if err := f.api.Artifacts.Delete(context.Background(), ref.Digest); err != nil {
		t.Fatal(err)
	}
	code, b = f.do(t, "admin", "GET", "/api/v1/projects/default/builds/"+bld.ID+"/artifacts/site.zip", nil)
	if code != 404 || !strings.Contains(string(b), "stored content of artifact site.zip") {
		t.Errorf("deleted content: %d %s", code, b)
	}
}
