package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// LoadRPZFile reads the policy zone origin from the master file at path and compiles it. Parse
// errors, compile errors and warnings name the file and line.
func LoadRPZFile(origin, path string, opts Options) (*RuleSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", origin, err)
	}
	return LoadRPZ(origin, path, data, opts)
}

// LoadRPZ is LoadRPZFile for master-file text already read; name is the file name for messages
// and $INCLUDE (which reads files in its directory or below only).
func LoadRPZ(origin, name string, data []byte, opts Options) (*RuleSet, error) {
	origin = lowerName(origin)
	if opts.Name == "" {
		opts.Name = origin
	}
	zp := dns.NewZoneParser(bytes.NewReader(data), origin, name)
	zp.SetDefaultTTL(3600)
	zp.IncludeAllowFunc = func(_, include string) bool { return name != "" && filepath.IsLocal(include) }
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, &CompileError{Name: opts.Name, Problems: []Problem{{Msg: err.Error()}}}
	}
	set, err := CompileRPZ(origin, rrs, opts)
	var lines *zone.LineIndex
	locate := func(ps []Problem) {
		for i := range ps {
			ps[i].File = name
			if ps[i].Owner == "" || ps[i].Type == 0 {
				continue
			}
			if lines == nil {
				l := zone.IndexLines(data, origin)
				lines = &l
			}
			ps[i].Line = lines.Find(ps[i].Owner, ps[i].Type, 0)
		}
	}
	var ce *CompileError
	if errors.As(err, &ce) {
		locate(ce.Problems)
		return nil, ce
	}
	if err != nil {
		return nil, err
	}
	locate(set.warnings)
	return set, nil
}
