package main

import (
	"os/exec"
	"strings"
	"testing"

	"warden/internal/dnstest"
)

// TestNoTestingInBinary: package testing, with its flags and helpers, must not be linked into the
// warden binary. Test helpers that the command's packages need (peers started for tests, the lab
// for tests) live in packages of their own. The failure names the packages that import testing.
func TestNoTestingInBinary(t *testing.T) {
	out, err := exec.Command(dnstest.GoCommand(t), "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "warden/cmd/warden").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var importers []string
	linked := false
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "testing" {
			linked = true
		}
		for _, imp := range f[1:] {
			if imp == "testing" {
				importers = append(importers, f[0])
			}
		}
	}
	if linked {
		t.Errorf("warden links package testing, imported by %s", strings.Join(importers, ", "))
	}
}
