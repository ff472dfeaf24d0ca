package config

import (
	"strings"
	"testing"
)

func TestHoldOnSetting(t *testing.T) {
	if !Default().Resolver.HoldOn {
		t.Fatal("resolver.hold_on is off by default")
	}
	for _, tt := range []struct {
		yaml           string
		resolver, fwd0 bool
	}{
		{"resolver:\n  hold_on: off\n  forward:\n    - {zone: ., upstreams: [\"127.0.36.9:53\"]}\n", false, true},
		{"resolver:\n  hold_on: On\n  forward:\n    - {zone: ., upstreams: [\"127.0.36.9:53\"], hold_on: off}\n", true, false},
		{"resolver:\n  hold_on: false\n  forward:\n    - {zone: ., upstreams: [\"127.0.36.9:53\"], hold_on: true}\n", false, true},
	} {
		c, err := Parse([]byte(tt.yaml), "warden.yaml", t.TempDir())
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if bool(c.Resolver.HoldOn) != tt.resolver || c.Resolver.Forward[0].HoldOnOn() != tt.fwd0 {
			t.Errorf("%q: resolver %v, forward %v", tt.yaml, c.Resolver.HoldOn, c.Resolver.Forward[0].HoldOnOn())
		}
	}
}

func TestHoldOnSettingErrors(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"resolver:\n  hold_on: maybe\n", `warden.yaml:2:12: resolver.hold_on: "maybe" is not on or off`},
		{"resolver:\n  hold_on: 1\n", `warden.yaml:2:12: resolver.hold_on: want on or off, got`},
		{"resolver:\n  forward:\n    - {zone: ., upstreams: [\"127.0.36.9:53\"], hold_on: [on]}\n",
			`warden.yaml:3:56: resolver.forward[0].hold_on: want on or off, got a list`},
	} {
		_, err := Parse([]byte(tt.yaml), "warden.yaml", t.TempDir())
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %s...", tt.yaml, err, tt.want)
		}
	}
}
