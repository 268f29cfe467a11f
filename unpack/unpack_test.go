package unpack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// entry is one member of an archive a test builds.
type entry struct {
	name, body string
	mode       fs.FileMode
	// link is the target of a hard link (tar only).
	link string
}

var mtime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func zipOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Modified: mtime}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		must(t, err)
		_, err = w.Write([]byte(e.body))
		must(t, err)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

func tarOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: int64(e.mode.Perm()), ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeLink, e.link
		case e.mode.IsDir():
			h.Typeflag = tar.TypeDir
		case e.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.body
		case e.mode&fs.ModeCharDevice != 0:
			h.Typeflag = tar.TypeChar
		case e.mode&fs.ModeDevice != 0:
			h.Typeflag = tar.TypeBlock
		case e.mode&fs.ModeNamedPipe != 0:
			h.Typeflag = tar.TypeFifo
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		must(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			must(t, err)
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func gzipOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

// archive builds entries in format and writes it to a file.
func archive(t *testing.T, format string, entries []entry) string {
	t.Helper()
	var b []byte
	switch format {
	case FormatZip:
		b = zipOf(t, entries)
	case FormatTar:
		b = tarOf(t, entries)
	case FormatTgz:
		b = gzipOf(t, tarOf(t, entries))
	}
	p := filepath.Join(t.TempDir(), "bundle")
	must(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestDetect(t *testing.T) {
	gnu := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		must(t, tw.WriteHeader(&tar.Header{Name: "a", Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatGNU}))
		must(t, tw.Close())
		return buf.Bytes()
	}()
	corrupt := tarOf(t, []entry{{name: "a", body: "x", mode: 0o644}})
	corrupt[0] ^= 1 // the name changes, the checksum does not
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"zip":         {zipOf(t, []entry{{name: "a", body: "x", mode: 0o644}}), "zip"},
		"empty zip":   {zipOf(t, nil), "zip"},
		"tgz":         {gzipOf(t, tarOf(t, []entry{{name: "a", body: "x", mode: 0o644}})), "tgz"},
		"ustar":       {tarOf(t, []entry{{name: "a", body: "x", mode: 0o644}}), "tar"},
		"gnu tar":     {gnu, "tar"},
		"bad sum":     {corrupt, ""},
		"text":        {[]byte("version: 0.0\nos: linux\n"), ""},
		"empty input": {nil, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Detect(bytes.NewReader(c.b))
			if c.want == "" {
				if err == nil || err.Error() != "not a zip, tar or tgz archive" {
					t.Fatalf("got %q, %v; want the not-an-archive error", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// tree is what every format must give back.
var tree = []entry{
	{name: "bin/", mode: fs.ModeDir | 0o750},
	{name: "bin/app", body: "#!/bin/sh\necho hi\n", mode: 0o755},
	{name: "config.txt", body: "x=1", mode: 0o600},
	{name: "run", body: "bin/app", mode: fs.ModeSymlink | 0o777},
	{name: "deep/er/file", body: "d", mode: 0o644}, // parents not in the archive
}

func TestFile_EveryFormatGivesBackModesTimesAndLinks(t *testing.T) {
	for _, format := range []string{FormatZip, FormatTar, FormatTgz} {
		for _, given := range []string{"", format} {
			t.Run(format+"/"+given, func(t *testing.T) {
				dest := t.TempDir()
				if err := File(context.Background(), archive(t, format, tree), given, dest); err != nil {
					t.Fatal(err)
				}
				for name, mode := range map[string]fs.FileMode{"bin/app": 0o755, "config.txt": 0o600, "deep/er/file": 0o644} {
					fi, err := os.Stat(filepath.Join(dest, name))
					if err != nil || fi.Mode().Perm() != mode || !fi.ModTime().Equal(mtime) {
						t.Errorf("%s: %v %v, want mode %v time %v", name, fi, err, mode, mtime)
					}
				}
				if b, err := os.ReadFile(filepath.Join(dest, "bin/app")); err != nil || string(b) != "#!/bin/sh\necho hi\n" {
					t.Errorf("bin/app: %q %v", b, err)
				}
				if target, err := os.Readlink(filepath.Join(dest, "run")); err != nil || target != "bin/app" {
					t.Errorf("link: %q %v", target, err)
				}
				if format != FormatZip { // zip keeps no directory modes (as before the move)
					fi, err := os.Stat(filepath.Join(dest, "bin"))
					if err != nil || fi.Mode().Perm() != 0o750 || !fi.ModTime().Equal(mtime) {
						t.Errorf("bin/: %v %v", fi, err)
					}
				}
			})
		}
	}
}

func TestTar_DotSlashNamesHardLinksReadOnlyDirsAndReplacedEntries(t *testing.T) {
	entries := []entry{
		{name: "./", mode: fs.ModeDir | 0o755},
		{name: "./ro/", mode: fs.ModeDir | 0o555},
		{name: "./ro/file", body: "inside a read-only directory", mode: 0o444},
		{name: "./data", body: "old", mode: 0o644},
		{name: "./data", body: "new", mode: 0o640},
		{name: "./same", link: "./data"},
	}
	dest := t.TempDir()
	if err := Tar(context.Background(), bytes.NewReader(tarOf(t, entries)), dest); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "ro")); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("ro: %v %v", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "ro/file")); err != nil || string(b) != "inside a read-only directory" {
		t.Errorf("ro/file: %q %v", b, err)
	}
	a, errA := os.Stat(filepath.Join(dest, "data"))
	b, errB := os.Stat(filepath.Join(dest, "same"))
	if errA != nil || errB != nil || !os.SameFile(a, b) || a.Mode().Perm() != 0o640 {
		t.Errorf("data %v %v, same %v %v: want one file, the later entry's", a, errA, b, errB)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "same")); string(got) != "new" {
		t.Errorf("same holds %q", got)
	}
}

func TestUnpack_RefusesEntriesAndLinksThatLeaveTheDestination(t *testing.T) {
	cases := []struct {
		name    string
		entries []entry
		// culprit is the entry the error must name.
		culprit string
		formats []string
	}{
		{"dot-dot", []entry{{name: "../evil", body: "x", mode: 0o644}}, "../evil", nil},
		{"dot-dot inside", []entry{{name: "a/../../evil", body: "x", mode: 0o644}}, "a/../../evil", nil},
		{"absolute", []entry{{name: "/tmp/evil", body: "x", mode: 0o644}}, "/tmp/evil", nil},
		{"link out", []entry{{name: "out", body: "../../etc", mode: fs.ModeSymlink | 0o777}}, "out", nil},
		{"link to /etc", []entry{{name: "etc", body: "/etc", mode: fs.ModeSymlink | 0o777}}, "etc", nil},
		{"file through a link", []entry{{name: "out", body: "..", mode: fs.ModeSymlink | 0o777}, {name: "out/evil", body: "x", mode: 0o644}}, "out", nil},
		{"link to /etc then a file through it", []entry{{name: "etc", body: "/etc", mode: fs.ModeSymlink | 0o777}, {name: "etc/evil", body: "x", mode: 0o644}}, "etc", nil},
		{"backslash", []entry{{name: `..\evil`, body: "x", mode: 0o644}}, `..\evil`, nil},
		{"device", []entry{{name: "dev", mode: fs.ModeDevice | 0o644}}, "dev", nil},
		{"character device", []entry{{name: "tty", mode: fs.ModeDevice | fs.ModeCharDevice | 0o644}}, "tty", []string{FormatTar, FormatTgz}},
		{"fifo", []entry{{name: "pipe", mode: fs.ModeNamedPipe | 0o644}}, "pipe", []string{FormatTar, FormatTgz}},
		{"hard link out", []entry{{name: "passwd", link: "../../../etc/passwd"}}, "passwd", []string{FormatTar, FormatTgz}},
		{"hard link to an absolute path", []entry{{name: "passwd", link: "/etc/passwd"}}, "passwd", []string{FormatTar, FormatTgz}},
	}
	for _, c := range cases {
		formats := c.formats
		if formats == nil {
			formats = []string{FormatZip, FormatTar, FormatTgz}
		}
		for _, format := range formats {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				parent := t.TempDir()
				dest := filepath.Join(parent, "dest")
				must(t, os.Mkdir(dest, 0o755))
				err := File(context.Background(), archive(t, format, c.entries), format, dest)
				if err == nil {
					t.Fatal("unpacked")
				}
				if !strings.Contains(err.Error(), "unpack "+c.culprit+":") {
					t.Errorf("the error does not name the entry %s: %v", c.culprit, err)
				}
				if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
					t.Fatal("a file was written outside the destination")
				}
				if _, err := os.Stat("/etc/evil"); err == nil {
					t.Fatal("a file was written to /etc")
				}
			})
		}
	}
}

func TestUnpack_AnExistingLinkOutOfTheDestinationIsNotFollowed(t *testing.T) {
	// Even a link the checks never saw (it was there before) cannot lead
	// an entry out.
	for _, format := range []string{FormatZip, FormatTar} {
		t.Run(format, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			must(t, os.Mkdir(dest, 0o755))
			must(t, os.Mkdir(filepath.Join(parent, "outside"), 0o755))
			must(t, os.Symlink("../outside", filepath.Join(dest, "out")))
			err := File(context.Background(), archive(t, format, []entry{{name: "out/evil", body: "x", mode: 0o644}}), "", dest)
			if err == nil || !strings.Contains(err.Error(), "unpack out/evil:") {
				t.Fatalf("err %v, want one naming out/evil", err)
			}
			if _, err := os.Stat(filepath.Join(parent, "outside", "evil")); err == nil {
				t.Fatal("a file was written outside the destination")
			}
		})
	}
}

func TestFile_UnknownFormatsAndCanceledContexts(t *testing.T) {
	p := archive(t, FormatTar, tree)
	if err := File(context.Background(), p, "rar", t.TempDir()); err == nil || !strings.Contains(err.Error(), `unknown archive format "rar"`) {
		t.Errorf("rar: %v", err)
	}
	text := filepath.Join(t.TempDir(), "appspec.yml")
	must(t, os.WriteFile(text, []byte("version: 0.0\n"), 0o644))
	if err := File(context.Background(), text, "", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a zip, tar or tgz archive") {
		t.Errorf("text: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, format := range []string{FormatZip, FormatTar, FormatTgz} {
		if err := File(ctx, archive(t, format, tree), format, t.TempDir()); err != context.Canceled {
			t.Errorf("%s: %v, want context.Canceled", format, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
