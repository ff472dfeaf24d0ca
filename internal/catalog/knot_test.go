package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/zone"
)

// memberZone is the content of every member zone in these tests; names are relative, so one file
// serves any origin.
const memberZone = `@ 3600 SOA ns hostmaster 1 3600 600 86400 60
@ 3600 NS ns
ns 3600 A 192.0.2.1
`

// knotTemplate is the part of every test server's template: files and journals in dir, zone files
// never written back.
func knotTemplate(dir string) string {
	return fmt.Sprintf("    storage: %q\n    zonefile-sync: -1\n", dir)
}

// TestKnotProduces: Knot generates a catalog of its member zones (catalog-role: generate); Warden
// transfers it, builds it and must read exactly Knot's members and groups.
func TestKnotProduces(t *testing.T) {
	want := []Member{
		{Zone: "a.test."},
		{Zone: "b.example.", Group: "signed"},
		{Zone: "c.test."},
		{Zone: "d.sub.test.", Group: "plain"},
	}
	// Knot refuses queries for a catalog zone, so readiness is that of the members; axfr waits for
	// the catalog itself.
	knot := dnstest.StartKnotConf(t, func(dir string) string {
		file := filepath.Join(dir, "member.zone")
		if err := os.WriteFile(file, []byte(memberZone), 0o644); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n")
		b.WriteString("template:\n  - id: default\n" + knotTemplate(dir) + "    acl: xfr\n")
		b.WriteString("zone:\n  - domain: catalog.test.\n    catalog-role: generate\n")
		for _, m := range want {
			fmt.Fprintf(&b, "  - domain: %s\n    file: %q\n    catalog-role: member\n    catalog-zone: catalog.test.\n", m.Zone, file)
			if m.Group != "" {
				fmt.Fprintf(&b, "    catalog-group: %s\n", m.Group)
			}
		}
		return b.String()
	}, []string{"a.test.", "b.example.", "c.test.", "d.sub.test."})

	z := axfr(t, knot.Addr, "catalog.test.")
	got, err := Parse(z)
	if err != nil {
		t.Fatalf("Knot's catalog: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want the members %+v", got, want)
	}
	for i, m := range got {
		if m.Zone != want[i].Zone || m.Group != want[i].Group || m.COO != "" {
			t.Errorf("member %d: got %+v, want %+v", i, m, want[i])
		}
		if lookup(z, m.ID+".zones.catalog.test.") == nil {
			t.Errorf("member %s: ID %q is not a member node of the transferred zone", m.Zone, m.ID)
		}
	}
}

// TestKnotConsumes: a catalog written by Produce is served by one knotd (the primary, as a plain
// zone beside the member zones) and interpreted by another (catalog-role: interpret), which must
// start serving every member, transferred from the primary, under the template its group names.
func TestKnotConsumes(t *testing.T) {
	members := []Member{
		{Zone: "one.test."},
		{Zone: "two.test.", Group: "grouped"},
		{Zone: "three.example."},
		{Zone: "four.deep.example.", Group: "grouped"},
		{Zone: "five.test.", ID: "chosen-by-hand"},
	}
	rrs, err := Produce("catalog.test.", testSOA(t), members)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, rr := range rrs {
		text.WriteString(rr.String() + "\n")
	}
	var names []string
	for _, m := range members {
		names = append(names, m.Zone)
	}

	primary := dnstest.StartKnotConf(t, func(dir string) string {
		catalog, member := filepath.Join(dir, "catalog.zone"), filepath.Join(dir, "member.zone")
		if err := os.WriteFile(catalog, []byte(text.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(member, []byte(memberZone), 0o644); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n")
		b.WriteString("template:\n  - id: default\n" + knotTemplate(dir) + "    zonefile-load: whole\n    journal-content: none\n    acl: xfr\n")
		fmt.Fprintf(&b, "zone:\n  - domain: catalog.test.\n    file: %q\n", catalog)
		for _, m := range members {
			fmt.Fprintf(&b, "  - domain: %s\n    file: %q\n", m.Zone, member)
		}
		return b.String()
	}, append([]string{"catalog.test."}, names...))

	// The secondary waits for every member zone: knotd answers a member's SOA with AA only once it
	// has read the catalog, added the zone and transferred it. (Knot answers no queries for a
	// catalog zone it interprets, so the catalog itself is not waited for.)
	secondary := dnstest.StartKnotConf(t, func(dir string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "remote:\n  - id: primary\n    address: 127.0.0.1@%d\n", primary.Port)
		b.WriteString("template:\n  - id: default\n" + knotTemplate(dir))
		b.WriteString("  - id: member\n" + knotTemplate(dir) + "    master: primary\n")
		b.WriteString("  - id: grouped\n" + knotTemplate(dir) + "    master: primary\n")
		b.WriteString("zone:\n  - domain: catalog.test.\n    master: primary\n")
		b.WriteString("    catalog-role: interpret\n    catalog-template: [ member, grouped ]\n")
		return b.String()
	}, names)

	status := secondary.Control(t, "zone-status")
	for _, m := range members {
		want := "catalog: catalog.test."
		if m.Group != "" {
			want += "#" + m.Group
		}
		line := statusLine(status, m.Zone)
		if !strings.Contains(line+" ", want+" ") {
			t.Errorf("%s: knotc zone-status says %q, want it to contain %q", m.Zone, line, want)
		}
	}
}

// statusLine returns the line knotc zone-status prints for zone, or "".
func statusLine(status, zone string) string {
	for line := range strings.Lines(status) {
		if strings.HasPrefix(line, "["+zone+"]") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// axfr transfers origin from addr and builds it as a secondary would. A zone the server has not
// loaded yet refuses the transfer, so it is retried, for at most five seconds.
func axfr(t *testing.T, addr, origin string) *zone.Zone {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var z *zone.Zone
		if z, err = transfer(addr, origin); err == nil {
			return z
		}
	}
	t.Fatalf("AXFR %s from %s: %v", origin, addr, err)
	return nil
}

func transfer(addr, origin string) (*zone.Zone, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	env, err := dns.NewClient().TransferIn(ctx, dns.NewMsg(origin, dns.TypeAXFR), "tcp", addr)
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for e := range env {
		if e.Error != nil {
			err = e.Error
		}
		rrs = append(rrs, e.Answer...)
	}
	if err != nil {
		return nil, err
	}
	// The transfer ends with the SOA it began with (RFC 5936 §2.2); the zone holds it once.
	if n := len(rrs); n < 2 || dns.RRToType(rrs[n-1]) != dns.TypeSOA {
		return nil, fmt.Errorf("%d records, not closed by a SOA", n)
	}
	z, _, err := zone.Build(origin, "AXFR from "+addr, rrs[:len(rrs)-1])
	return z, err
}
