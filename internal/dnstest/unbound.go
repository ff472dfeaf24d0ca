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

// UnboundBin returns the path of the unbound binary. Without it the test is skipped, except when
// CI=true, where a missing reference is an error.
func UnboundBin(t testing.TB) string { return peerBin(t, "unbound", "unbound") }

// StartUnbound runs unbound in the foreground on 127.0.0.1 and a free port as a recursive resolver
// that starts from rootHints (master-file text) instead of the real root, validates nothing, and
// may query loopback servers. It returns the address once unbound answers, and stops it in
// t.Cleanup. Without unbound the test is skipped, except when CI=true.
func StartUnbound(t testing.TB, rootHints string) string {
	t.Helper()
	bin := UnboundBin(t)
	dir := t.TempDir()
	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(rootHints), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "unbound.conf")
	text := fmt.Sprintf(`server:
    interface: 127.0.0.1@%d
    port: %d
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "%s"
    pidfile: "%s/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    do-ip6: no
    so-reuseport: no
    root-hints: "%s"
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    minimal-responses: yes
remote-control:
    control-enable: no
`, port, port, dir, dir, hints)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", conf)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// localhost. is answered by unbound itself, so this needs no upstream.
	probe := dns.NewMsg("localhost.", dns.TypeA)
	runPeer(t, "unbound", cmd, addr, probe, 10*time.Second)
	return addr
}
