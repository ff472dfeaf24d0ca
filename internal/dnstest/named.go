package dnstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// NamedBin returns the path of BIND's named. Without it the test is skipped, except when CI=true,
// where a missing reference is an error.
func NamedBin(t testing.TB) string { return peerBin(t, "named", "bind9") }

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
	bin := NamedBin(t)
	dir := t.TempDir()
	for name, text := range c.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port, err := c.Port, error(nil)
	if port == 0 {
		port, err = FreePort()
	}
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "named.conf")
	text := fmt.Sprintf(`options {
	directory "%s";
	pid-file "%s/named.pid";
	session-keyfile "%s/session.key";
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
%s
};
controls { };
%s
`, dir, dir, dir, port, c.Options, c.Body)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-g", "-4", "-n", "1", "-c", conf)
	cmd.Dir = dir
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// version.bind CH TXT is answered by named itself.
	probe := dns.NewMsg("version.bind.", dns.TypeTXT)
	probe.Question[0].Header().Class = dns.ClassCHAOS
	runPeer(t, "named", cmd, addr, probe, 15*time.Second)
	return addr
}
