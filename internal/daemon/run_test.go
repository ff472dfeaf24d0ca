package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/dnstest"
)

func writeZone(t *testing.T, path string, serial int, addr string) {
	t.Helper()
	text := fmt.Sprintf("$ORIGIN run.test.\n$TTL 300\n@ SOA ns hostmaster %d 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\nwww A %s\n", serial, addr)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// answerOf asks addr for www.run.test A and returns the address, "" when there is none.
func answerOf(t *testing.T, addr string) string {
	t.Helper()
	m, err := dnstest.Exchange(addr, dnstest.Query{Name: "www.run.test.", Type: dns.TypeA})
	if err != nil {
		return ""
	}
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.Addr.String()
		}
	}
	return ""
}

func waitAnswer(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for answerOf(t, addr) != want {
		if time.Now().After(deadline) {
			t.Fatalf("www.run.test. never answered %s (last: %q)", want, answerOf(t, addr))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run serves its configuration, picks up a changed zone file on the watch tick, applies a changed
// configuration file on a control reload, keeps the running configuration when the new one is
// rejected, and returns when its context ends.
func TestRunServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	zoneFile := filepath.Join(dir, "run.test.zone")
	writeZone(t, zoneFile, 1, "192.0.2.1")
	socket := filepath.Join(dir, "control.sock")
	cfgFile := filepath.Join(dir, "warden.yaml")
	cfgText := fmt.Sprintf("listen: [%q]\nzones:\n  - origin: run.test.\n    file: run.test.zone\nreload:\n  watch_interval: 100ms\ncontrol:\n  socket: %s\n", addr, socket)
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &dnstest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Log: logTo(logs), Reread: func() (*config.Config, error) { return config.Load(cfgFile) }})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()
	waitAnswer(t, addr, "192.0.2.1")

	// The watch tick: a zone file with a higher serial is served.
	writeZone(t, zoneFile, 2, "192.0.2.2")
	waitAnswer(t, addr, "192.0.2.2")

	// A control reload reads the configuration file again: a second zone file named there is
	// served; a configuration that does not parse is refused and the running one stays.
	ctl := control.NewClient(socket)
	other := filepath.Join(dir, "other.zone")
	writeZone(t, other, 3, "192.0.2.3")
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(cfgText, "file: run.test.zone", "file: other.zone", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Do(http.MethodPost, "/reload", nil); err != nil {
		t.Fatalf("control reload: %v", err)
	}
	waitAnswer(t, addr, "192.0.2.3")
	if err := os.WriteFile(cfgFile, []byte("listen: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = ctl.Do(http.MethodPost, "/reload", nil)
	var se *control.StatusError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "configuration rejected") {
		t.Fatalf("reload of a broken configuration: %v; want it refused", err)
	}
	if got := answerOf(t, addr); got != "192.0.2.3" {
		t.Fatalf("after a refused reload www.run.test. is %q; want the running zone's 192.0.2.3", got)
	}
}
