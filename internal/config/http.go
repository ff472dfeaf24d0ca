package config

import (
	"fmt"
	"net/netip"
)

// HTTPConfig is the HTTP listener: metrics for Prometheus, and the dashboard and its JSON API.
// Off unless Listen names an address.
type HTTPConfig struct {
	// Listen holds the IP:port addresses to serve on; empty turns the listener off. Host names
	// are refused, so the listener never ends up on an address a resolver chose.
	Listen []string `yaml:"listen"`
	// TokenFile, when set, holds the token the dashboard and /api/ need (Authorization: Bearer
	// or ?token=); /metrics never needs it. Relative to the config file.
	TokenFile string `yaml:"token_file"`
}

// Validate checks the addresses and that the token file, when named, holds a token.
func (h HTTPConfig) Validate() error {
	var p problems
	seen := map[netip.AddrPort]bool{}
	for i, a := range h.Listen {
		ap, err := netip.ParseAddrPort(a)
		switch {
		case err != nil:
			p.add(fmt.Sprintf("listen[%d]", i), "%s: want an IP address and port, as 127.0.0.1:9153 or \"[::1]:9153\"", quote(a))
		case seen[ap]:
			p.add(fmt.Sprintf("listen[%d]", i), "%s is listed twice", quote(a))
		}
		seen[ap] = true
	}
	if h.TokenFile != "" {
		if _, err := ReadToken(h.TokenFile); err != nil {
			p.add("token_file", "%v", err)
		}
	}
	return p.err()
}

// ApplyHTTPFlags applies --http (each an IP:port; when there are any they replace http.listen),
// validating the result as ApplyFlags does.
func ApplyHTTPFlags(c *Config, listen []string) error {
	if len(listen) == 0 {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	forget(d.where, "http.listen")
	d.HTTP.Listen = append([]string(nil), listen...)
	for i, v := range listen {
		d.where[fmt.Sprintf("http.listen[%d]", i)] = location{flag: flagName("--http", v)}
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}
