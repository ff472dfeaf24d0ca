package wire

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		text   string
		labels int
	}{{".", 0}, {"a.", 1}, {"www.Example.test.", 3}} {
		w, err := AppendName(nil, tt.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := NameString(w); got != tt.text {
			t.Errorf("NameString(%q) = %q", tt.text, got)
		}
		if got := LabelCount(w); got != tt.labels {
			t.Errorf("LabelCount(%q) = %d", tt.text, got)
		}
		if NameLen(append(w, 0xFF)) != len(w) || CheckName(w) != nil {
			t.Errorf("%q: NameLen %d, CheckName %v", tt.text, NameLen(w), CheckName(w))
		}
		n := 0
		for off := range Suffixes(w) {
			n++
			if got := NameString(w[off:]); !strings.HasSuffix(tt.text, got) {
				t.Errorf("%q: suffix %q", tt.text, got)
			}
		}
		if n != tt.labels+1 {
			t.Errorf("%q: %d suffixes", tt.text, n)
		}
		low := Lower(nil, w)
		if !EqualFold(w, low) || !Within(low, []byte{0}) {
			t.Errorf("%q: case or root", tt.text)
		}
	}
	for _, bad := range [][]byte{{}, {3, 'a', 'b'}, {0xC0, 12}, {64}, append([]byte{1, 'a'}, make([]byte, 0)...)} {
		if NameLen(bad) != -1 || CheckName(bad) == nil {
			t.Errorf("% x: NameLen %d", bad, NameLen(bad))
		}
	}
	if Within([]byte("\x03bar\x03foo\x00"), "\x02oo\x00") || !Within([]byte("\x03bar\x03foo\x00"), "\x03foo\x00") {
		t.Error("Within does not keep to label boundaries")
	}
	if EqualFold([]byte("\x01a\x00"), []byte("\x01!\x00")) || !EqualFold([]byte("\x01A\x00"), []byte("\x01a\x00")) {
		t.Error("EqualFold")
	}
}

// TestNamesAllocs: walking a name allocates nothing.
func TestNamesAllocs(t *testing.T) {
	w, _ := AppendName(nil, "www.example.test.")
	var buf [MaxNameLen + 1]byte
	n := testing.AllocsPerRun(100, func() {
		c := 0
		for off := range Suffixes(w) {
			c += off
		}
		for off := range Labels(w) {
			c += off
		}
		_ = AppendText(buf[:0], w)
		if c == 0 || !Within(w, w[4:]) || LabelCount(w) != 3 {
			t.Fatal("walk")
		}
	})
	if n != 0 {
		t.Fatalf("%.1f allocations", n)
	}
}
