//go:build !linux

package upstream

import "syscall"

// recvTTL does nothing where the IP TTL of a datagram cannot be read: Hold-On then judges by
// timing alone.
func recvTTL(string, string, syscall.RawConn) error { return nil }

// ipTTL says the TTL is not known.
func ipTTL([]byte) int { return -1 }
