package policy

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// The blast-radius check: before a policy goes into force, it is compared with the one in force
// over a corpus of names (recent questions, or a list), and the share of names whose answer would
// change decides whether it may go live.

// Report is the outcome of comparing two policies over a corpus.
type Report struct {
	Names   int      // names compared
	Changed int      // names whose answer would change
	Changes []Change // how, largest first
	// Undecided counts names that one of the policies can decide only after resolving them
	// (response-IP, NSDNAME and NSIP rules): they are compared on their question-stage rules only.
	Undecided int
}

// Change is one kind of change and the names it hits.
type Change struct {
	From, To string
	Count    int
	Examples []string // the first few names
}

// maxExamples bounds the names shown for each change.
const maxExamples = 5

// Share returns the fraction of names that would change, 0..1.
func (r Report) Share() float64 {
	if r.Names == 0 {
		return 0
	}
	return float64(r.Changed) / float64(r.Names)
}

// String is the report as people read it: the headline, then each change with examples.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d names (%.2f%%) would change answer\n", r.Changed, r.Names, 100*r.Share())
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "  %d: %s -> %s, e.g. %s\n", c.Count, c.From, c.To, strings.Join(c.Examples, " "))
	}
	if r.Undecided > 0 {
		fmt.Fprintf(&b, "  %d names meet rules that are decided on the answer (IP, NSDNAME, NSIP): compared on their name only\n", r.Undecided)
	}
	return b.String()
}

// Compare evaluates every name of corpus (type A, recursion desired, from client) under the
// policy in force (nil: none) and the proposed one, without counting hits in either.
func Compare(inForce, proposed *Policy, corpus []string, client netip.Addr) Report {
	r := Report{Names: len(corpus)}
	idx := map[[2]string]int{}
	for _, name := range corpus {
		q := Query{Client: client, Name: name, Type: dns.TypeA, RD: true}
		before, needA := inForce.Evaluate(q)
		after, needB := proposed.Evaluate(q)
		if needA || needB {
			r.Undecided++
		}
		from, to := Describe(before), Describe(after)
		if from == to {
			continue
		}
		r.Changed++
		key := [2]string{from, to}
		i, ok := idx[key]
		if !ok {
			i = len(r.Changes)
			idx[key] = i
			r.Changes = append(r.Changes, Change{From: from, To: to})
		}
		c := &r.Changes[i]
		c.Count++
		if len(c.Examples) < maxExamples {
			c.Examples = append(c.Examples, name)
		}
	}
	slices.SortStableFunc(r.Changes, func(a, b Change) int { return b.Count - a.Count })
	return r
}

// Describe says what a decision does to an answer, so that two decisions compare equal exactly
// when clients would get the same answer: the action, and for local data the records themselves.
func Describe(m Match) string {
	switch m.Action {
	case NoAction, Passthru:
		return "resolved"
	case Local:
		parts := make([]string, 0, len(m.Data))
		for _, rr := range m.Data {
			// Owner and TTL aside: the owner is the query name, the TTL does not change where
			// clients go.
			f := strings.Fields(rr.String())
			if len(f) >= 4 {
				f = f[3:]
			}
			parts = append(parts, strings.Join(f, " "))
		}
		slices.Sort(parts)
		return "local " + strings.Join(parts, ", ")
	}
	return m.Action.String()
}

// ReadCorpus reads names one per line; a line may also be a query-file line ("name type") or a
// query log line whose first field is the name. Blank lines and lines starting with # or ; are
// skipped; a field that is not a domain name is an error naming the line. Names are lower-cased
// and made fully qualified.
func ReadCorpus(r io.Reader, source string) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		name := strings.ToLower(strings.Fields(text)[0])
		if !strings.HasSuffix(name, ".") {
			name += "."
		}
		if !dnsutil.IsName(name) {
			return nil, fmt.Errorf("%s:%d: %q is not a domain name", source, line, strings.Fields(text)[0])
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return names, nil
}
