package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// The catalog tests run a Warden primary that produces a catalog zone (RFC 9432) of the zones
// that name it, and consumers of that catalog: a Warden secondary configured with the catalog
// alone, and Knot with catalog-role: interpret. Members added to or removed from the primary's
// configuration (reloaded through the control socket) appear on and vanish from the consumers.

// yamlServer starts Warden from a configuration file of text (written to dir/name.yaml) and
// returns the file's path, so the test can rewrite it and reload.
func yamlServer(t *testing.T, dir, name, text string) (path string, logs *syncBuffer) {
	t.Helper()
	path = filepath.Join(dir, name+".yaml")
	writeFile(t, path, text)
	f := &commonFlags{config: path}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, text)
	}
	logs, _ = startServer(t, f, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, logs.String())
		}
	})
	return path, logs
}

// catalogPrimaryYAML is the primary's configuration: the catalog cat.test. and the member zones
// listed in it, all sent to notify and signed with the replication key.
func catalogPrimaryYAML(dir, listen, notify string, members []string) string {
	notifyList := "[]"
	if notify != "" {
		notifyList = fmt.Sprintf("[%q]", notify)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: [%q]\nstorage: %s\ncontrol: {socket: %s}\nreload: {watch_interval: 100ms}\n",
		listen, filepath.Join(dir, "primary-storage"), filepath.Join(dir, "primary.sock"))
	fmt.Fprintf(&b, "keys: [{name: %s, algorithm: hmac-sha256, secret: %q}]\nzones:\n", replKeyName, replKeySecret)
	fmt.Fprintf(&b, "  - {origin: cat.test., role: catalog, key: %s, allow_transfer: [127.0.0.0/8], notify: %s}\n", replKeyName, notifyList)
	for _, m := range members {
		fmt.Fprintf(&b, "  - {origin: %s, file: %s.zone, catalog: cat.test., key: %s, allow_transfer: [127.0.0.0/8], notify: %s}\n",
			m, strings.TrimSuffix(m, "."), replKeyName, notifyList)
	}
	return b.String()
}

// ctlReload reloads the server behind socket through the control interface.
func ctlReload(t *testing.T, socket string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := ctlCmd([]string{"--control", socket, "reload"}, &out, &errb); code != 0 {
		t.Fatalf("warden ctl reload: exit %d: %s%s", code, out.String(), errb.String())
	}
}

// notServed waits until addr stops answering origin with data: REFUSED or NOTAUTH, no records.
func notServed(t *testing.T, addr, origin string) {
	t.Helper()
	waitFor(t, addr+" no longer serving "+origin, func() bool {
		m, err := dnstest.Exchange(addr, dnstest.Query{Name: origin, Type: dns.TypeSOA})
		return err == nil && (m.Rcode == dns.RcodeRefused || m.Rcode == dns.RcodeNotAuth) && len(m.Answer) == 0
	})
}

func TestCatalogWardenToWarden(t *testing.T) {
	key := replKey(t)
	dir := t.TempDir()
	for i, m := range []string{"a.test.", "b.test.", "c.test."} {
		writeZoneFile(t, filepath.Join(dir, strings.TrimSuffix(m, ".")+".zone"), replZone(m, uint32(10+i), 20), 1)
	}
	primaryAddr, secondaryAddr := freePort(t), freePort(t)
	pconf, _ := yamlServer(t, dir, "primary", catalogPrimaryYAML(dir, primaryAddr, secondaryAddr, []string{"a.test.", "b.test."}))
	waitSerial(t, primaryAddr, "cat.test.", 1)

	storage := filepath.Join(dir, "secondary-storage")
	yamlServer(t, dir, "secondary", fmt.Sprintf(`listen: [%q]
storage: %s
control: {socket: ""}
keys: [{name: %s, algorithm: hmac-sha256, secret: %q}]
zones:
  - {origin: cat.test., role: catalog, primaries: [%q], key: %s}
`, secondaryAddr, storage, replKeyName, replKeySecret, primaryAddr, replKeyName))

	waitSerial(t, secondaryAddr, "cat.test.", 1)
	for i, m := range []string{"a.test.", "b.test."} {
		waitSerial(t, secondaryAddr, m, uint32(10+i))
		sameZone(t, m, primaryAddr, secondaryAddr, key)
	}
	notServed(t, secondaryAddr, "c.test.")

	// A new member on the primary: the catalog's NOTIFY brings it to the secondary.
	writeFile(t, pconf, catalogPrimaryYAML(dir, primaryAddr, secondaryAddr, []string{"a.test.", "b.test.", "c.test."}))
	ctlReload(t, filepath.Join(dir, "primary.sock"))
	waitSerial(t, primaryAddr, "cat.test.", 2)
	waitSerial(t, secondaryAddr, "c.test.", 12)
	sameZone(t, "c.test.", primaryAddr, secondaryAddr, key)
	sameZone(t, "cat.test.", primaryAddr, secondaryAddr, key)

	// A member removed: the secondary stops serving it and deletes what it kept of it.
	bFiles := []string{filepath.Join(storage, "b.test.zone"), filepath.Join(storage, "b.test.journal")}
	if _, err := os.Stat(bFiles[0]); err != nil {
		t.Fatalf("the secondary keeps no copy of b.test.: %v", err)
	}
	writeFile(t, pconf, catalogPrimaryYAML(dir, primaryAddr, secondaryAddr, []string{"a.test.", "c.test."}))
	ctlReload(t, filepath.Join(dir, "primary.sock"))
	waitSerial(t, secondaryAddr, "cat.test.", 3)
	notServed(t, secondaryAddr, "b.test.")
	for _, f := range bFiles {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still there after b.test. left the catalog (%v)", f, err)
		}
	}
	for i, m := range []string{"a.test.", "c.test."} {
		waitSerial(t, secondaryAddr, m, uint32(10+2*i))
	}
}

// TestCatalogWardenToKnot: Knot interprets the catalog Warden produces: it serves every member,
// and drops one removed from the primary.
func TestCatalogWardenToKnot(t *testing.T) {
	key := replKey(t)
	dir := t.TempDir()
	for i, m := range []string{"a.test.", "b.test."} {
		writeZoneFile(t, filepath.Join(dir, strings.TrimSuffix(m, ".")+".zone"), replZone(m, uint32(10+i), 20), 1)
	}
	// The primary starts first and holds its port; Knot then gets one of its own, with a zone of
	// its own to tell it is up (it does not answer for a catalog it interprets). The primary
	// learns Knot's address, to NOTIFY it, at the reload below.
	primaryAddr := freePort(t)
	primaryPort := strings.TrimPrefix(primaryAddr, "127.0.0.1:")
	pconf, _ := yamlServer(t, dir, "primary", catalogPrimaryYAML(dir, primaryAddr, "", []string{"a.test.", "b.test."}))
	waitSerial(t, primaryAddr, "cat.test.", 1)
	knot := dnstest.StartKnotConfig(t, dnstest.KnotConfig{
		Sections: knotSecondarySections(primaryPort) + `  - id: member
    storage: "@DIR@"
    master: warden
    acl: [notify]
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: ready.test.
    file: "@DIR@/ready.zone"
  - domain: cat.test.
    master: warden
    acl: [notify]
    catalog-role: interpret
    catalog-template: member
`,
		Files: map[string]string{"ready.zone": replZone("ready.test.", 1, 0)},
		Ready: "ready.test.",
	})
	for i, m := range []string{"a.test.", "b.test."} {
		waitSerial(t, knot.Addr, m, uint32(10+i))
		sameZone(t, m, primaryAddr, knot.Addr, key)
	}

	writeFile(t, pconf, catalogPrimaryYAML(dir, primaryAddr, knot.Addr, []string{"a.test."}))
	ctlReload(t, filepath.Join(dir, "primary.sock"))
	waitSerial(t, primaryAddr, "cat.test.", 2)
	notServed(t, knot.Addr, "b.test.")
	waitSerial(t, knot.Addr, "a.test.", 10)
}
