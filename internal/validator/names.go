package validator

import "strings"

// Names here are fully qualified and compared without regard to case. The library does not
// accept \DDD escapes in names, so a dot is always a label boundary.

func countLabels(name string) int {
	if name == "." || name == "" {
		return 0
	}
	return strings.Count(name, ".")
}

// parentName drops the first label; the root is its own parent.
func parentName(name string) string {
	if name == "." || name == "" {
		return "."
	}
	_, rest, _ := strings.Cut(name, ".")
	if rest == "" {
		return "."
	}
	return rest
}

// isBelow reports whether child is at or below parent.
func isBelow(parent, child string) bool {
	parent, child = strings.ToLower(parent), strings.ToLower(child)
	if parent == "." {
		return true
	}
	return child == parent || strings.HasSuffix(child, "."+parent)
}

func sameName(a, b string) bool { return strings.EqualFold(a, b) }

// compareNames orders names as RFC 4034 §6.1 does: label by label from the right, each label as
// a string of lower-case octets.
func compareNames(a, b string) int {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	for a != "" || b != "" {
		if a == "" {
			return -1
		}
		if b == "" {
			return 1
		}
		la, lb := lastLabel(a), lastLabel(b)
		if c := strings.Compare(a[la:], b[lb:]); c != 0 {
			return c
		}
		a, b = strings.TrimSuffix(a[:la], "."), strings.TrimSuffix(b[:lb], ".")
	}
	return 0
}

// lastLabel returns the index where the rightmost label of a (without the final dot) begins.
func lastLabel(a string) int {
	return strings.LastIndexByte(a, '.') + 1
}

// covers reports whether the NSEC span (owner, next) holds name strictly between its ends; the
// last NSEC of a zone wraps around to the apex (RFC 4034 §4.1.1).
func covers(owner, next, name string) bool {
	afterOwner := compareNames(owner, name) < 0
	beforeNext := compareNames(name, next) < 0
	if compareNames(owner, next) < 0 {
		return afterOwner && beforeNext
	}
	return afterOwner || beforeNext // the wrap-around span
}

// ancestorsBelow lists the names from just below top down to name: for top "example." and name
// "a.b.example." it returns "b.example.", "a.b.example.".
func ancestorsBelow(top, name string) []string {
	var out []string
	for n := strings.ToLower(name); countLabels(n) > countLabels(top); n = parentName(n) {
		out = append(out, n)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func hasType(bitmap []uint16, t uint16) bool {
	for _, x := range bitmap {
		if x == t {
			return true
		}
	}
	return false
}
