package resolver

import (
	"strings"
	"testing"
)

func TestIANARootHints(t *testing.T) {
	h := IANARootHints()
	if len(h) != 13 || h[0].Name != "a.root-servers.net." || len(h[0].Addrs) != 2 {
		t.Fatalf("%d servers, first %+v", len(h), h[0])
	}
}

func TestParseHintsErrors(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"", "no NS records"},
		{". 3600 NS a.lab.\n", "a.lab. has no address"},
		{"lab. 3600 NS a.lab.\na.lab. 3600 A 127.0.0.1\n", "NS records of the root only"},
		{". 3600 NS a.lab.\na.lab. 3600 A 300.0.0.1\n", "hints.txt"},
	} {
		_, err := ParseHints([]byte(tt.text), "hints.txt")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to mention %q", tt.text, err, tt.want)
		}
	}
}
