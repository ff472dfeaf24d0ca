// Package signer signs zones online: it keeps a zone's DNSSEC keys in a key directory, in the
// files BIND's and Knot's tools read, and turns an unsigned zone into a signed one (DNSKEY, RRSIG,
// NSEC or NSEC3 with NSEC3PARAM, CDS and CDNSKEY), then keeps it signed: a new version of the
// unsigned zone is signed incrementally (only the changed RRsets and the denial records around
// them get new signatures), and a refresh replaces only the signatures that expire soon. Every
// result is a zone.Diff against the signed version before it, so the journal and IXFR out carry
// just the change.
//
// The package does no I/O besides the key directory and keeps no goroutine: internal/zones calls
// it when a zone loads or changes and when a refresh is due.
//
// # Defaults
//
// The policy's defaults are those of Knot DNS's default policy (knot.conf(5), policy section), so
// that a zone moved between the two servers keeps its behaviour:
//
//   - algorithm ecdsap256sha256: small signatures, fast to make, supported by every validator.
//   - single-type signing off: a KSK signs the DNSKEY, CDS and CDNSKEY RRsets, a ZSK the rest.
//   - rrsig_lifetime 14 days; inception 90 minutes in the past (clock skew between the signer
//     and validators), not counted in the lifetime; no jitter, as Knot adds none.
//   - rrsig_refresh: propagation delay + the zone's largest TTL, Knot's default: a signature is
//     replaced while every copy of it a secondary or a cache may hold is still valid.
//   - zsk_lifetime 30 days, ksk_lifetime 0 (unlimited); propagation delay 1 hour.
//   - dnskey_ttl: the SOA's TTL.
//   - NSEC; with nsec3, RFC 9276: 0 extra iterations, no salt, no opt-out. Knot's default salt
//     is 8 octets, which RFC 9276 §3.1 advises against; Warden follows the RFC.
//   - CDS (SHA-256 digest) and CDNSKEY for the KSK (or CSK) published from the first signing,
//     as Knot's cds-cdnskey-publish "always", so that a parent can take the DS from them
//     (RFC 8078, RFC 9615). Knot's default publishes them only during a KSK rollover.
//
// # Keys and their timing
//
// Keys are kept as BIND keeps them: K<zone>+<alg>+<tag>.key (the DNSKEY record) and
// K<zone>+<alg>+<tag>.private (mode 0600, in a directory of mode 0700). A key's timing (created,
// published, activated, retired, deleted) lives in BIND's own timing fields, in the .private file
// (which dnssec-settime and dnssec-signzone read) and as comments in the .key file; there is no
// separate state file. A key's role follows from its flags and the policy: with single-type
// signing the SEP key is a CSK; without it the SEP key is the KSK and the others are ZSKs.
//
// # Rollovers
//
// Keys are made once, when a zone has none, and rolled when their lifetime ends (rollover.go):
// a ZSK by pre-publication, a KSK or CSK by double signature, with the waits of RFC 7583. The
// schedule is written into the keys' timing fields when a rollover starts, with BIND's names
// for the CDS/CDNSKEY window (SyncPublish, SyncDelete) and the parent's DS (DSPublish,
// DSRemoved), so a restart resumes it. A KSK rollover waits for the parent's DS of the new key
// without limit (internal/zones asks the parent's servers when configured to, or waits for the
// operator): both keys sign meanwhile, so the zone validates whichever DS the parent holds. A
// policy whose algorithm is not the keys' starts an algorithm rollover (RFC 6781 §4.1.4): the
// new algorithm signs before its keys are published.
//
// # Speed
//
// A signature costs far more than everything else signing does (an ECDSA P-256 signature is
// about 40 µs of CPU in Go's crypto/ecdsa, most of it the scalar multiplication and the hedged
// nonce), so the rest is kept out of its way: RRsets are signed on every core, each worker
// building the RFC 4034 §3.1.8.1 signed data into buffers it reuses, straight from the records
// (sigdata.go), instead of the library's RRSIG.Sign, which clones and packs every record again
// for each key. Names are ordered for the NSEC chain on their wire form, label by label, with
// no string made per name; denial records, their bitmaps and the signatures come in blocks; and
// the signed zone shares the unsigned zone's records instead of copying them.
package signer
