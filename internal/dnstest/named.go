package dnstest

import (
	"os"
	"path/filepath"
	"testing"

	"warden/internal/peers"
)

// NamedBin returns the path of BIND's named. Without it the test is skipped, except when CI=true,
// where a missing reference is an error.
func NamedBin(t testing.TB) string { return peerBin(t, "named") }

// NamedConfig is what StartNamed writes into named.conf besides the listener and paths.
type NamedConfig struct {
	// Options are extra statements inside options { }.
	Options string
	// Body holds the statements after options (zones, say); file names are relative to the
	// working directory, where Files are written.
	Body  string
	Files map[string]string
	// Port is the port to listen on; 0 picks a free one.
	Port int
}

// StartNamed runs BIND's named in the foreground on 127.0.0.1 and a free port, with the
// configuration c, and returns the address once it answers. It is stopped in t.Cleanup; its log
// is shown when the test failed. Without named the test is skipped, except when CI=true.
func StartNamed(t testing.TB, c NamedConfig) string {
	t.Helper()
	NamedBin(t)
	dir := t.TempDir()
	for name, text := range c.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startPeer(t, "named", c.Port == 0, func() (*peers.Proc, error) {
		port := c.Port
		if port == 0 {
			port = freePort(t)
		}
		return peers.StartNamed(peers.Named{Port: port, Dir: dir, Options: c.Options, Body: c.Body})
	})
	return p.Addr()
}
