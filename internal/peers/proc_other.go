//go:build !linux

package peers

import "syscall"

// procAttr puts a peer in a process group of its own. Only Linux has a parent-death signal.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive says whether a process of group pgid is still there (zombies included).
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}
