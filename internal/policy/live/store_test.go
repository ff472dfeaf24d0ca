package live

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"warden/internal/config"
)

func objectName(data string) string {
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:])
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestStoreRoundTrip: a version and its objects read back as written, with private modes; an
// object is stored once however many versions use it.
func TestStoreRoundTrip(t *testing.T) {
	state := t.TempDir()
	s, err := OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	rpz, list := "$TTL 60\n", "ads.example\n"
	v := &Version{N: 7, At: time.Date(2026, 11, 27, 7, 47, 36, 0, time.UTC), Reason: "reload (signal)", Back: 6, Sets: []Source{
		{RPZ: &config.RPZConfig{Origin: "rpz.local.", File: "/etc/warden/local.rpz", Shadow: true}, Object: objectName(rpz), Name: "rpz.local.", Rules: 4},
		{Blocklist: &config.BlocklistConfig{Name: "ads", Source: "https://lists.example/ads.txt", Refresh: time.Hour}, Object: objectName(list), Name: "ads", Rules: 1},
	}}
	for range 2 {
		for _, data := range []string{rpz, list} {
			if err := s.PutObject(objectName(data), []byte(data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.PutObject(objectName("x"), []byte("y")); err == nil {
		t.Error("an object stored under a name that is not its digest")
	}
	if err := s.Save(v); err != nil {
		t.Fatal(err)
	}
	w := *v
	w.N, w.Back = 8, 7
	if err := s.Save(&w); err != nil {
		t.Fatal(err)
	}
	if got := files(t, filepath.Join(s.Dir(), "objects")); len(got) != 2 {
		t.Errorf("objects %v, want one per distinct content", got)
	}
	got, problems := s.Load()
	if len(problems) > 0 || len(got) != 2 {
		t.Fatalf("Load: %d versions, problems %v", len(got), problems)
	}
	r := got[0]
	if r.N != 7 || !r.At.Equal(v.At) || r.Reason != v.Reason || r.Back != 6 || len(r.Sets) != 2 ||
		!reflect.DeepEqual(r.Sets[0].RPZ, v.Sets[0].RPZ) || r.Sets[1].Blocklist.Refresh != time.Hour || r.Sets[1].Object != objectName(list) {
		t.Errorf("read back %+v", r)
	}
	if contentKey(r.Sets) != contentKey(v.Sets) {
		t.Error("the content read back does not compare equal to the content written")
	}
	if data, err := s.Object(objectName(rpz)); err != nil || string(data) != rpz {
		t.Errorf("object: %q, %v", data, err)
	}
	for _, path := range []string{s.Dir(), filepath.Join(s.Dir(), "objects"), filepath.Join(s.Dir(), "versions")} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want 0700", path, fi.Mode(), err)
		}
	}
	for _, path := range []string{s.versionPath(7), s.objectPath(objectName(list))} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", path, fi.Mode(), err)
		}
	}
}

// TestStorePrune: versions beyond those kept are removed, and with them the objects nothing
// kept (or about to be put in force) refers to.
func TestStorePrune(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var versions []*Version
	for i, data := range []string{"one\n", "two\n", "three\n", "pending\n"} {
		if err := s.PutObject(objectName(data), []byte(data)); err != nil {
			t.Fatal(err)
		}
		v := &Version{N: i + 1, Sets: []Source{{RPZ: &config.RPZConfig{Origin: "rpz.test."}, Object: objectName(data)}}}
		if i < 3 {
			if err := s.Save(v); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, v)
		}
	}
	if err := s.Prune(versions[1:], []string{objectName("pending\n")}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files(t, filepath.Join(s.Dir(), "versions")), " "); got != "00000002.json 00000003.json" {
		t.Errorf("versions kept: %s", got)
	}
	if _, err := s.Object(objectName("one\n")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the object of the dropped version: %v", err)
	}
	for _, data := range []string{"two\n", "three\n", "pending\n"} {
		if _, err := s.Object(objectName(data)); err != nil {
			t.Errorf("object %q: %v", data, err)
		}
	}
}

// TestStoreCorrupt: a version file that makes no sense is left out and named; the others load.
// An object whose bytes do not match its name is refused. A state directory that cannot be one
// is an error naming it.
func TestStoreCorrupt(t *testing.T) {
	state := t.TempDir()
	s, err := OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	good := &Version{N: 1, Sets: []Source{{RPZ: &config.RPZConfig{Origin: "rpz.test."}, Object: objectName("a")}}}
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"00000002.json": "{not json",
		"00000003.json": `{"n": 3, "sets": [{"object": "` + objectName("a") + `"}]}`,
		"00000004.json": `{"n": 4, "sets": [{"rpz": {}, "object": "../../../etc/passwd"}]}`,
		"00000005.json": `{"n": 6, "sets": []}`,
		"junk.json":     `{}`,
	}
	for name, text := range bad {
		if err := os.WriteFile(filepath.Join(s.Dir(), "versions", name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	versions, problems := s.Load()
	if len(versions) != 1 || versions[0].N != 1 {
		t.Errorf("loaded %d versions", len(versions))
	}
	if len(problems) != len(bad) {
		t.Errorf("problems %v, want one per bad file", problems)
	}
	for _, p := range problems {
		if !strings.Contains(p.Error(), filepath.Join(s.Dir(), "versions")) {
			t.Errorf("problem does not name the file: %v", p)
		}
	}

	name := objectName("the rules\n")
	if err := os.WriteFile(s.objectPath(name), []byte("the rules, cut sho"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Object(name); err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), s.objectPath(name)) {
		t.Errorf("corrupt object: %v", err)
	}
	if _, err := s.Object("../versions/00000001.json"); err == nil {
		t.Error("an object name outside the objects directory was read")
	}

	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a file as the state directory: %v", err)
	}
}
