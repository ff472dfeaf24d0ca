package zone

import "testing"

// FuzzLoad: no master file may make the loader panic; whatever it accepts must satisfy the checks
// the answer code relies on.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"))
	f.Add([]byte("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nwww CNAME @\n*.w TXT \"x\"\nd DNAME x.\n"))
	f.Add([]byte("$GENERATE 1-10 h$ A 192.0.2.$\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n"))
	f.Add([]byte("@ SOA ns h 1 2 3 4 5\n@ NS ns\nsub NS ns.sub\nns.sub A 192.0.2.2\n"))
	f.Add([]byte(signedHead + signedTail))
	f.Fuzz(func(t *testing.T, data []byte) {
		z, _, err := Load("fuzz.test.", "", data)
		if err != nil {
			return
		}
		if z.SOA == nil || z.Apex == nil || !z.Apex.Has(2) {
			t.Fatalf("accepted a zone without SOA or apex NS")
		}
		for n := range z.Nodes() {
			if z.Node(n.Key) != n || (n.Parent == nil) != (n == z.Apex) {
				t.Fatalf("node %s is not linked into the tree", n.Name)
			}
			// The proofs an answer needs are found for any name, in a signed zone or not.
			z.CoverNSEC([]byte(n.Key))
			z.CoverNSEC3([]byte(n.Key))
		}
	})
}
