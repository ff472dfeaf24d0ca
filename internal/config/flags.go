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
		a, err := netip.ParseAddrPort(strings.TrimSpace(v))
		if err != nil {
			bad("--listen", v, "not an IP address and port, as 127.0.0.1:53 or [::1]:53")
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
