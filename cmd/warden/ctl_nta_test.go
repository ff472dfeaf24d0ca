package main

import (
	"testing"

	"warden/internal/validator"
)

// TestCtlNTA: `warden ctl nta add|list|remove` over the socket and over HTTP.
func TestCtlNTA(t *testing.T) {
	for _, transport := range []string{"socket", "http"} {
		t.Run(transport, func(t *testing.T) {
			deps := ctlDeps()
			deps.NTA = validator.NewNegativeAnchors()
			socket, http := ctlServer(t, deps)
			flags := map[string][]string{"socket": socket, "http": http}[transport]
			for _, tc := range []ctlCase{
				{args: "nta list", out: []string{"no negative trust anchors\n"}},
				{args: "nta add broken.example", out: []string{"negative trust anchor broken.example. until "}},
				{args: "nta add other.example. 30m", out: []string{"negative trust anchor other.example. until "}},
				{args: "nta list", out: []string{"DOMAIN", "broken.example.", "1h0m0s", "other.example.", "30m0s", "ctl"}},
				{args: "nta list --json", out: []string{`"domain": "broken.example."`, `"from_config": false`}},
				{args: "nta add x.example soon", code: 2, err: []string{`"soon" is not a duration`}},
				{args: "nta add a..b", code: 1, err: []string{"not a domain name"}},
				{args: "nta remove broken.example", out: []string{"negative trust anchor broken.example. removed\n"}},
				{args: "nta remove broken.example", code: 1, err: []string{"no negative trust anchor for broken.example."}},
				{args: "nta list", out: []string{"other.example."}, notOut: "broken.example."},
			} {
				runCtl(t, flags, tc)
			}
		})
	}
}
