// Package blocklist reads the blocklists users bring (hosts files, plain lists of names, Adblock
// rules), keeps them current from files and URLs, and compiles them into one Index that answers
// "is this name blocked, and by which rule" on the query path without allocating.
//
// It knows nothing of policy actions or answers. The policy layer turns each Entry into a QNAME
// rule (a Wildcard entry is the name plus "*.name"), or asks an Index directly; either way this
// package decides only which names the lists cover.
//
// # Formats
//
// Hosts (/etc/hosts syntax, as StevenBlack's and most Pi-hole lists are written):
//
//	0.0.0.0 ads.example.com tracker.example.com   # several names, comments after '#'
//	127.0.0.1 ads.example.net
//
// Each name is blocked exactly, not its subdomains (as AdGuard Home and Pi-hole read hosts lines).
// The address must be one blockers use for "nowhere": 0.0.0.0, ::, 127.0.0.0/8 or ::1. A line
// that maps a name to a real address is an override, not a block, and is skipped with that
// reason. The machine's own names (localhost, localhost.localdomain, local, broadcasthost, ip6-*,
// and "0.0.0.0" written as a name) are ignored silently, as Pi-hole does. A line holding one bare
// name is read as that name.
//
// Domains (one name per line):
//
//	example.com        example.com only
//	*.example.com      example.com and every name below it (as Blocky reads it)
//
// Comments start with '#' (anywhere) or '!' (at the start of a line).
//
// Adblock (the subset of Adblock Plus syntax that AdGuard Home documents for DNS filtering):
//
//	||example.com^     example.com and every name below it
//	@@||example.com^   an exception: never block these names, whatever else matches
//	|example.com^      example.com only ("|example.com|" too)
//	example.com        example.com only
//	example.com^       example.com and every name below it
//
// "! comments", "# comments" and "[Adblock Plus 2.0]" headers are ignored; hosts lines are read
// as in a hosts file. Anchors without the final '^' are read as if it were there ("||example.com"
// is "||example.com^"), where AdGuard would also match names that merely begin with the text
// (example.com.evil): the unanchored reading blocks by accident, not by intent.
//
// Auto picks one of the three from the first 64 KiB: Adblock if a line starts with "||", "@@",
// "|" or "[Adblock", else Hosts if a line starts with an IP address, else Domains.
//
// # What is skipped, and why
//
// Every line that holds no usable rule is recorded in List.Skipped with its line number and the
// reason (the first MaxProblems of them; List.SkippedTotal counts all), and the rest of the list
// loads. Nothing is guessed:
//   - Names that are not names: characters outside letters, digits, '-' and '_'; empty labels;
//     labels over 63 or names over 253 characters; IP addresses and names whose last label is all
//     digits. International names are converted to their xn-- form (IDNA lookup rules); one that
//     does not convert, or is not UTF-8, is skipped.
//   - Adblock rules with modifiers ($important, $badfilter, $client, $dnstype, $dnsrewrite,
//     $third-party, ...): AdGuard ignores a rule whose modifiers it does not know, and Warden
//     knows none, so a client- or type-specific rule is never applied to everyone.
//   - Adblock patterns a name table cannot hold: regular expressions (/.../), '*' inside or at the
//     start of a name (||ads*.example^, ||*.example^, which would cover only names below), rules
//     that match every name, URL rules (schemes, ports, paths), cosmetic (##) and HTML ($$) rules.
//   - Lines longer than MaxLineLen (4 KiB): no name is that long, so such a line is binary or
//     minified junk, and reading it whole would let one line take unbounded memory.
//
// CRLF line ends and a UTF-8 byte order mark are accepted.
//
// # Matching
//
// Index.Match applies AdGuard's precedence: an exception for the name, or a wildcard exception for
// a name above it, wins over every block; otherwise the most specific block is reported, an exact
// rule before a wildcard rule on the same name. Rules from all lists are merged: lists are not
// ordered, and an allow-list (Source.Allow) is simply a list of exceptions.
//
// # Fetching
//
// A Fetcher loads each Source (a file or an http(s) URL) and refreshes it on its interval, with
// conditional requests, a timeout, a size cap, and the rule that a failed or empty fetch never
// replaces a list that is loaded.
package blocklist
