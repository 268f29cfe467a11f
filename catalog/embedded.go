package catalog

import (
	"io/fs"
	"strings"
)

// embeddedSuffix marks a file of a built-in blueprint kept under another
// name: go:embed refuses a directory that holds a go.mod (the directory
// would be another module), so the starter content's go.mod is kept as
// go.mod.embedded, and unsuffixed shows it as go.mod.
const embeddedSuffix = ".embedded"

// unsuffixed shows the files of fsys whose names end in embeddedSuffix
// under their names without it, and only so.
type unsuffixed struct{ fsys fs.FS }

func (u unsuffixed) Open(name string) (fs.File, error) {
	if strings.HasSuffix(name, embeddedSuffix) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := u.fsys.Open(name)
	if err != nil {
		var serr error
		if f, serr = u.fsys.Open(name + embeddedSuffix); serr != nil {
			return nil, err
		}
	}
	return unsuffixedFile{File: f, name: name}, nil
}

// unsuffixedFile is a file or directory of an unsuffixed.
type unsuffixedFile struct {
	fs.File
	name string // as opened, for errors
}

func (f unsuffixedFile) Stat() (fs.FileInfo, error) {
	info, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return unsuffixedInfo{info}, nil
}

func (f unsuffixedFile) ReadDir(n int) ([]fs.DirEntry, error) {
	d, ok := f.File.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: fs.ErrInvalid}
	}
	entries, err := d.ReadDir(n)
	for i, e := range entries {
		entries[i] = unsuffixedEntry{e}
	}
	return entries, err
}

type unsuffixedInfo struct{ fs.FileInfo }

func (i unsuffixedInfo) Name() string { return strings.TrimSuffix(i.FileInfo.Name(), embeddedSuffix) }

type unsuffixedEntry struct{ fs.DirEntry }

func (e unsuffixedEntry) Name() string { return strings.TrimSuffix(e.DirEntry.Name(), embeddedSuffix) }

func (e unsuffixedEntry) Info() (fs.FileInfo, error) {
	info, err := e.DirEntry.Info()
	if err != nil {
		return nil, err
	}
	return unsuffixedInfo{info}, nil
}
