package live

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync/atomic"

	"warden/internal/config"
	"warden/internal/policy"
)

// Source is what one rule set was compiled from: its configuration and the bytes read (an RPZ
// file, or a blocklist as fetched), named by their SHA-256. Two sets with equal sources are the
// same rules, so a version can be recognised by its sources, stored once, and compiled again.
type Source struct {
	// Exactly one of RPZ and Blocklist is set.
	RPZ       *config.RPZConfig       `json:"rpz,omitempty"`
	Blocklist *config.BlocklistConfig `json:"blocklist,omitempty"`
	// Object is the hex SHA-256 of the bytes, the name they are stored under.
	Object string `json:"object"`
	// Name and Rules are the compiled set's name and rule count, for people.
	Name  string `json:"name"`
	Rules int    `json:"rules"`

	// data are the bytes until they are stored; nil after, and for sources read back.
	data []byte
	// unique, when not zero, makes the source equal to no other: an RPZ file with $INCLUDE, whose
	// included files are not part of the bytes hashed.
	unique uint64
}

// Proposal is a policy put together by the Loader, with the source of each of its rule sets in
// the policy's order. A nil Policy (no rule set) is a proposal too: the policy goes.
type Proposal struct {
	Policy  *policy.Policy
	Sources []Source
}

var uniques atomic.Uint64

// rpzSource describes an RPZ file's bytes as configured by c.
func rpzSource(c config.RPZConfig, data []byte) Source {
	sum := sha256.Sum256(data)
	s := Source{RPZ: &c, Object: hex.EncodeToString(sum[:]), Name: c.Origin, data: data}
	if hasInclude(data) {
		// What $INCLUDE reads is not in data: the hash cannot say the rules are unchanged.
		s.unique = uniques.Add(1)
	}
	return s
}

// blocklistSource describes a fetched list's bytes as configured by c.
func blocklistSource(c config.BlocklistConfig, digest [32]byte, data []byte) Source {
	return Source{Blocklist: &c, Object: hex.EncodeToString(digest[:]), Name: c.Name, data: data}
}

// hasInclude says whether master-file text may hold an $INCLUDE directive (in any case), without
// copying the text: a policy zone may be hundreds of megabytes.
func hasInclude(data []byte) bool {
	const directive = "$include"
	for rest := data; ; rest = rest[1:] {
		i := bytes.IndexByte(rest, '$')
		if i < 0 {
			return false
		}
		rest = rest[i:]
		if len(rest) >= len(directive) && bytes.EqualFold(rest[:len(directive)], []byte(directive)) {
			return true
		}
	}
}

// key identifies the source's content: configuration and bytes.
func (s Source) key() string {
	cfg, _ := json.Marshal(struct {
		R *config.RPZConfig
		B *config.BlocklistConfig
		U uint64
	}{s.RPZ, s.Blocklist, s.unique})
	return string(cfg) + "@" + s.Object
}

// contentKey identifies a policy's content: every source in order.
func contentKey(srcs []Source) string {
	var b strings.Builder
	for _, s := range srcs {
		b.WriteString(s.key())
		b.WriteByte('\n')
	}
	return b.String()
}

// withoutData returns a copy of srcs that holds no bytes.
func withoutData(srcs []Source) []Source {
	out := make([]Source, len(srcs))
	for i, s := range srcs {
		s.data = nil
		out[i] = s
	}
	return out
}
