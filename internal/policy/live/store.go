package live

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Store keeps policy versions on disk, so that a rollback works after a restart. Under its
// directory (STATE_DIR/policy):
//
//	objects/<sha256>      the bytes of an RPZ file or of a fetched blocklist, named by their
//	                      SHA-256 (hex), so a list that did not change is stored once
//	versions/<n>.json     one version: its number, time, reason, the version a rollback from it
//	                      returns to, and its rule sets in order, each with its configuration,
//	                      object and rule count
//
// Every file is written to a temporary name and renamed into place, so a crash leaves the old
// file or the new one, never half of one. Directories are 0700 and files 0600: a policy may say
// more than its operator wants others on the host to read.
type Store struct {
	dir string
}

// OpenStore opens (creating it if needed) the store under stateDir/policy.
func OpenStore(stateDir string) (*Store, error) {
	dir := filepath.Join(stateDir, "policy")
	for _, d := range []string{dir, filepath.Join(dir, "objects"), filepath.Join(dir, "versions")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("policy state %s: %w", d, err)
		}
	}
	// Fail now rather than at the first change: the directory must take files.
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("policy state %s: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) objectPath(name string) string { return filepath.Join(s.dir, "objects", name) }

func (s *Store) versionPath(n int) string {
	return filepath.Join(s.dir, "versions", fmt.Sprintf("%08d.json", n))
}

// validObject says whether name is a hex SHA-256, so that a name read from a version file cannot
// reach outside the objects directory.
func validObject(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// PutObject stores data under name, its hex SHA-256, unless an object of that name is there.
func (s *Store) PutObject(name string, data []byte) error {
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != name {
		return fmt.Errorf("policy object %s: the bytes do not have that digest", name)
	}
	path := s.objectPath(name)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeAtomic(path, data)
}

// Object returns the bytes stored under name, checked against it.
func (s *Store) Object(name string) ([]byte, error) {
	if !validObject(name) {
		return nil, fmt.Errorf("policy object %q: not a SHA-256 name", name)
	}
	path := s.objectPath(name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != name {
		return nil, fmt.Errorf("%s: corrupt: its bytes do not have the digest it is named by", path)
	}
	return data, nil
}

// Save writes v's record.
func (s *Store) Save(v *Version) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.versionPath(v.N), append(data, '\n'))
}

// Load reads every version stored, oldest first. A file that cannot be read or makes no sense is
// left out and returned as a problem naming its path.
func (s *Store) Load() ([]*Version, []error) {
	dir := filepath.Join(s.dir, "versions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{err}
	}
	var versions []*Version
	var problems []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		n, err := strconv.Atoi(strings.TrimSuffix(name, ".json"))
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Errorf("%s: not a version file name", path))
			continue
		}
		v, err := readVersion(path)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if v.N != n {
			problems = append(problems, fmt.Errorf("%s: holds version %d", path, v.N))
			continue
		}
		versions = append(versions, v)
	}
	slices.SortFunc(versions, func(a, b *Version) int { return a.N - b.N })
	return versions, problems
}

func readVersion(path string) (*Version, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v Version
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, src := range v.Sets {
		switch {
		case (src.RPZ == nil) == (src.Blocklist == nil):
			return nil, fmt.Errorf("%s: sets[%d]: neither a policy zone nor a blocklist", path, i)
		case !validObject(src.Object):
			return nil, fmt.Errorf("%s: sets[%d]: object %q is not a SHA-256", path, i, src.Object)
		}
	}
	return &v, nil
}

// Prune removes the records of versions not in keep, and the objects neither they nor pending
// refer to.
func (s *Store) Prune(keep []*Version, pending []string) error {
	kept := map[string]bool{}
	used := map[string]bool{}
	for _, v := range keep {
		kept[filepath.Base(s.versionPath(v.N))] = true
		for _, src := range v.Sets {
			used[src.Object] = true
		}
	}
	for _, o := range pending {
		used[o] = true
	}
	var errs []error
	remove := func(dir string, keep map[string]bool) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, e := range entries {
			if keep[e.Name()] || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	remove(filepath.Join(s.dir, "versions"), kept)
	remove(filepath.Join(s.dir, "objects"), used)
	return errors.Join(errs...)
}

// writeAtomic writes data to path through a temporary file in the same directory, synced and
// renamed into place.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
