//go:build !linux

package lab

import "syscall"

// peerProcAttr puts a peer in a process group of its own, so that a terminal's Ctrl-C reaches
// only warden, which then stops the peers, and stop can signal the children NSD forks.
func peerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive says whether a process of group pgid is still there (zombies included).
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
