package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ApplyFlags applies the quick command-line settings to c and validates the result, so that an
// error names the flag and value that caused it, or the file line it clashes with. c is changed
// only when the result is valid.
//
//   - listen holds the values of --listen, each an IP address and port ("127.0.0.1:53",
//     "[::1]:53"). When there are any, they replace the config's listeners.
//   - zones holds the values of --zone, each ORIGIN=FILE. They are added to the config's zones,
//     except that they replace the built-in example zone of Default: it is there only so that a
//     bare `warden serve` answers something. A relative FILE is taken from the working directory,
//     as anything else on a command line is.
func ApplyFlags(c *Config, listen, zones []string) error {
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	var errs []error
	bad := func(flag, value, format string, args ...any) {
		errs = append(errs, &Error{Flag: flagName(flag, value), Msg: fmt.Sprintf(format, args...)})
	}

	var addrs Listeners
	for _, v := range listen {
		a, err := ParseListenAddr(v)
		if err != nil {
			bad("--listen", v, "%s", strings.TrimPrefix(err.Error(), "is "))
			continue
		}
		addrs = append(addrs, a)
	}
	if len(listen) > 0 {
		forget(d.where, "listen")
		d.Listen = addrs
		for i, v := range listen {
			d.where[fmt.Sprintf("listen[%d]", i)] = location{flag: flagName("--listen", v)}
		}
	}

	if len(zones) > 0 {
		kept := d.Zones[:0:0]
		for _, z := range d.Zones {
			if z.File != "" || z.Data == nil {
				kept = append(kept, z)
			}
		}
		if len(kept) != len(d.Zones) {
			// The remaining zones move to new indexes; their recorded lines would point at the
			// wrong entries.
			forget(d.where, "zones")
		}
		d.Zones = kept
	}
	for _, v := range zones {
		origin, file, ok := strings.Cut(v, "=")
		origin, file = strings.TrimSpace(origin), strings.TrimSpace(file)
		if !ok || origin == "" || file == "" {
			bad("--zone", v, "want ORIGIN=FILE, as example.test.=example.test.zone")
			continue
		}
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		d.where[fmt.Sprintf("zones[%d]", len(d.Zones))] = location{flag: flagName("--zone", v)}
		d.Zones = append(d.Zones, ZoneConfig{Origin: canonicalName(origin), File: file})
	}

	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

// ApplyTLSFlags applies --tls-cert and --tls-key (each replaces the file's value when given; a
// relative path is taken from the working directory), validating the result as ApplyFlags does.
// Apply it before ApplyFlags, so that --listen tls://... finds the certificate.
func ApplyTLSFlags(c *Config, cert, key string) error {
	if cert == "" && key == "" {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	for _, f := range []struct {
		flag, key, value string
		dst              *string
	}{{"--tls-cert", "tls.cert", cert, &d.TLS.Cert}, {"--tls-key", "tls.key", key, &d.TLS.Key}} {
		if f.value == "" {
			continue
		}
		v := f.value
		if abs, err := filepath.Abs(v); err == nil {
			v = abs
		}
		*f.dst = v
		d.where[f.key] = location{flag: flagName(f.flag, f.value)}
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

func flagName(flag, value string) string { return flag + " " + quote(value) }

// forget drops the recorded places of key and of everything under it.
func forget(where map[string]location, key string) {
	for k := range where {
		if k == key || strings.HasPrefix(k, key+"[") || strings.HasPrefix(k, key+".") {
			delete(where, k)
		}
	}
}

// ApplyResolverFlags applies --root-hints (a file, or "iana"), --forward and --no-recursion to c,
// validating the result as ApplyFlags does. Each --forward is "ADDR[,ADDR...]" (everything) or
// "ZONE=ADDR[,ADDR...]"; it replaces the file's entry for the same zone. --no-recursion wins over
// everything else.
func ApplyResolverFlags(c *Config, rootHints string, forwards []string, noRecursion bool) error {
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	var errs []error
	for _, v := range forwards {
		zone, list := ".", v
		if z, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(z, "/") {
			zone, list = canonicalName(strings.TrimSpace(z)), rest
		}
		var ups []string
		for _, u := range strings.Split(list, ",") {
			if u = strings.TrimSpace(u); u != "" {
				ups = append(ups, u)
			}
		}
		if len(ups) == 0 {
			errs = append(errs, &Error{Flag: flagName("--forward", v), Msg: "want ADDR[,ADDR...] or ZONE=ADDR[,ADDR...]"})
			continue
		}
		d.Resolver.Forward = slices.DeleteFunc(d.Resolver.Forward, func(f ForwardConfig) bool { return f.Zone == zone })
		d.where[fmt.Sprintf("resolver.forward[%d]", len(d.Resolver.Forward))] = location{flag: flagName("--forward", v)}
		d.Resolver.Forward = append(d.Resolver.Forward, ForwardConfig{Zone: zone, Upstreams: ups})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if rootHints != "" {
		if rootHints != "iana" {
			if abs, err := filepath.Abs(rootHints); err == nil {
				rootHints = abs
			}
		}
		d.Resolver.RootHints = rootHints
		d.where["resolver.root_hints"] = location{flag: flagName("--root-hints", rootHints)}
	}
	if noRecursion {
		d.Resolver.RootHints = ""
		d.Resolver.Forward = nil
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

// ApplyTrustAnchorFlag applies --trust-anchor (a file of DS or DNSKEY records, or "iana"),
// validating the result as ApplyFlags does.
func ApplyTrustAnchorFlag(c *Config, anchor string) error {
	if anchor == "" {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	if anchor != "iana" {
		if abs, err := filepath.Abs(anchor); err == nil {
			anchor = abs
		}
	}
	d.Resolver.TrustAnchor = anchor
	d.where["resolver.trust_anchor"] = location{flag: flagName("--trust-anchor", anchor)}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

// ApplyPolicyFlags applies --rpz values, each ORIGIN=FILE, in order: they come after the file's
// policy zones (so a zone given on the command line has the lowest precedence), and one whose
// origin the file already lists replaces that entry in place. Validated as ApplyFlags does.
func ApplyPolicyFlags(c *Config, rpz []string) error {
	if len(rpz) == 0 {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	var errs []error
	for _, v := range rpz {
		origin, file, ok := strings.Cut(v, "=")
		origin, file = strings.TrimSpace(origin), strings.TrimSpace(file)
		if !ok || origin == "" || file == "" {
			errs = append(errs, &Error{Flag: flagName("--rpz", v), Msg: "want ORIGIN=FILE, as rpz.local.=local.rpz"})
			continue
		}
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		origin = canonicalName(origin)
		i := slices.IndexFunc(d.Policy.RPZ, func(z RPZConfig) bool { return z.Origin == origin })
		if i < 0 {
			i = len(d.Policy.RPZ)
			d.Policy.RPZ = append(d.Policy.RPZ, RPZConfig{Origin: origin})
		}
		forget(d.where, fmt.Sprintf("policy.rpz[%d]", i))
		d.where[fmt.Sprintf("policy.rpz[%d]", i)] = location{flag: flagName("--rpz", v)}
		d.Policy.RPZ[i].File = file
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

// ApplyBlocklistFlags applies --blocklist values, each [NAME=]SOURCE with SOURCE a file or an
// http(s) URL, in order: they come after the file's blocklists, with the defaults of every other
// key (format auto, action nxdomain, refresh 24h for a URL). A NAME the file already lists
// replaces that entry's source in place. Without NAME, the list is named after the file or the
// last part of the URL's path ("hosts" for .../hosts.txt), with "-2", "-3"... added when that
// name is taken. Validated as ApplyFlags does.
func ApplyBlocklistFlags(c *Config, lists []string) error {
	if len(lists) == 0 {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	var errs []error
	for _, v := range lists {
		name, source := "", strings.TrimSpace(v)
		if n, s, ok := strings.Cut(source, "="); ok && validListName(strings.TrimSpace(n)) {
			name, source = strings.TrimSpace(n), strings.TrimSpace(s)
		}
		if source == "" {
			errs = append(errs, &Error{Flag: flagName("--blocklist", v), Msg: "want [NAME=]FILE or [NAME=]URL, as ads=hosts.txt"})
			continue
		}
		if !isListURL(source) && !strings.Contains(source, "://") {
			if abs, err := filepath.Abs(source); err == nil {
				source = abs
			}
		}
		i := -1
		if name != "" {
			i = slices.IndexFunc(d.Policy.Blocklists, func(b BlocklistConfig) bool { return b.Name == name })
		} else {
			name = defaultListName(source, d.Policy.Blocklists)
		}
		if i < 0 {
			i = len(d.Policy.Blocklists)
			d.Policy.Blocklists = append(d.Policy.Blocklists, BlocklistConfig{Name: name})
		}
		key := fmt.Sprintf("policy.blocklists[%d]", i)
		forget(d.where, key)
		d.where[key] = location{flag: flagName("--blocklist", v)}
		d.Policy.Blocklists[i].Source = source
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

// defaultListName names a list given without a name after its source, unique among lists.
func defaultListName(source string, lists []BlocklistConfig) string {
	base, host := filepath.Base(source), ""
	if u, err := url.Parse(source); err == nil && isListURL(source) {
		base, host = path.Base(strings.TrimSuffix(u.Path, "/")), u.Host
	}
	if ext := path.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	if base == "." || base == "/" {
		base = host // a URL without a path
	}
	base = strings.Map(func(r rune) rune {
		if r < 128 && validListName(string(r)) {
			return r
		}
		return '-'
	}, base)
	if len(base) > 56 {
		base = base[:56]
	}
	if base == "" || base == "." || base == ".." {
		base = "list"
	}
	name := base
	for n := 2; slices.ContainsFunc(lists, func(b BlocklistConfig) bool { return b.Name == name }); n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	return name
}

// ApplyTransferFlags applies --secondary and --tsig to c and validates the result.
//
//   - secondaries holds values ORIGIN=ADDR[:PORT] (port 53 when left out): the zone is served as a
//     secondary of that primary. Repeating an origin adds primaries to it.
//   - tsig is NAME:ALGORITHM:BASE64SECRET, or "". The key signs the --secondary zones' transfers
//     and is accepted from their primaries' NOTIFY; the --zone zones may be transferred by anyone
//     who signs with it.
func ApplyTransferFlags(c *Config, secondaries []string, tsig string, zoneFlags []string) error {
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	var errs []error
	keyName := ""
	if tsig != "" {
		parts := strings.SplitN(tsig, ":", 3)
		if len(parts) != 3 {
			return &Error{Flag: "--tsig", Msg: "want NAME:ALGORITHM:BASE64SECRET, as xfr:hmac-sha256:c2VjcmV0"}
		}
		k := KeyConfig{Name: canonicalName(parts[0]), Algorithm: strings.ToLower(parts[1]), Secret: parts[2]}
		if err := (Keys{k}).Validate(); err != nil {
			for _, e := range leaves(err) {
				msg := e.Error()
				if ce, ok := e.(*Error); ok {
					msg = strings.TrimPrefix(ce.Key, "[0].") + ": " + ce.Msg
				}
				errs = append(errs, &Error{Flag: "--tsig", Msg: msg})
			}
			return errors.Join(errs...)
		}
		d.Keys = slices.DeleteFunc(d.Keys, func(o KeyConfig) bool { return canonicalName(o.Name) == k.Name })
		d.where[fmt.Sprintf("keys[%d]", len(d.Keys))] = location{flag: "--tsig"}
		d.Keys = append(d.Keys, k)
		keyName = k.Name
	}
	if len(secondaries) > 0 {
		// As with --zone: the built-in example zone is there only so that a bare server answers.
		d.Zones = slices.DeleteFunc(d.Zones, func(z ZoneConfig) bool { return z.File == "" && z.Data != nil })
	}
	for _, v := range secondaries {
		origin, addr, ok := strings.Cut(v, "=")
		origin = canonicalName(strings.TrimSpace(origin))
		if !ok || origin == "" || !validName(origin) {
			errs = append(errs, &Error{Flag: flagName("--secondary", v), Msg: "want ORIGIN=ADDR[:PORT], as example.com.=192.0.2.1"})
			continue
		}
		ap, err := parseAddrDefaultPort(strings.TrimSpace(addr), 53)
		if err != nil {
			errs = append(errs, &Error{Flag: flagName("--secondary", v), Msg: err.Error()})
			continue
		}
		i := slices.IndexFunc(d.Zones, func(z ZoneConfig) bool { return z.Origin == origin })
		if i < 0 {
			d.Zones = append(d.Zones, ZoneConfig{Origin: origin})
			i = len(d.Zones) - 1
			d.where[fmt.Sprintf("zones[%d]", i)] = location{flag: flagName("--secondary", v)}
		} else if !d.Zones[i].IsSecondary() {
			errs = append(errs, &Error{Flag: flagName("--secondary", v), Msg: fmt.Sprintf("zone %s is already served from %s", origin, d.Zones[i].Source())})
			continue
		}
		d.Zones[i].Primaries = append(d.Zones[i].Primaries, ap)
		if keyName != "" {
			d.Zones[i].Key = keyName
		}
	}
	if keyName != "" {
		for _, zf := range zoneFlags {
			origin, _, _ := strings.Cut(zf, "=")
			origin = canonicalName(strings.TrimSpace(origin))
			for i := range d.Zones {
				if d.Zones[i].Origin == origin && d.Zones[i].Key == "" {
					d.Zones[i].Key = keyName
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}

// parseAddrDefaultPort reads ADDR or ADDR:PORT ([V6]:PORT), with port def when none is given.
func parseAddrDefaultPort(s string, def uint16) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, def), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address with an optional port, as 192.0.2.1 or 192.0.2.1:5300", s)
	}
	return ap, nil
}
