package dnstest

import (
	"errors"
	"log/slog"
	"testing"
)

// TestParseLog reads back what slog's text and JSON handlers write, quoted values included, and
// refuses a line that is neither.
func TestParseLog(t *testing.T) {
	for _, json := range []bool{false, true} {
		var buf SyncBuffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if json {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(h)
		log.Error("zone file not in force", "zone", "a.test.", "err", errors.New(`a.zone:3: "x" = y`))
		log.Info("recovered", "failures", 3, "lasted", "2m10s")
		lines, err := ParseLog(buf.String())
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 2 {
			t.Fatalf("json %v: %d lines", json, len(lines))
		}
		if got := Matching(lines, "zone file not in force", "zone", "a.test.", "level", "ERROR"); len(got) != 1 || got[0]["err"] != `a.zone:3: "x" = y` {
			t.Errorf("json %v: first line %v", json, lines[0])
		}
		if got := Matching(lines, "recovered", "failures", "3", "lasted", "2m10s"); len(got) != 1 {
			t.Errorf("json %v: second line %v", json, lines[1])
		}
	}
	if _, err := ParseLog("time=1 msg=\"unterminated\n"); err == nil {
		t.Error("a broken quoted value was read")
	}
	if _, err := ParseLog("just words\n"); err == nil {
		t.Error("a line without key=value was read")
	}
}
