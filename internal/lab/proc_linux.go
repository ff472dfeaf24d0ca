package lab

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// peerProcAttr puts a peer in a process group of its own, so that a terminal's Ctrl-C reaches
// only warden, which then stops the peers, and stop can signal the children NSD forks.
//
// No parent-death signal is asked for: Linux sends it when the thread that forked the peer exits,
// not the process, and Go ends threads whenever a goroutine locked to one returns, as the UDP
// listeners' workers do when a listener closes. A peer would then die in the middle of a test.
func peerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive says whether a process of group pgid still runs. Zombies do not count: NSD's
// children outlive it for a moment and then wait, exited, until init reaps them, which can take
// seconds.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 4 || f[0][0] == 'Z' || f[0][0] == 'X' {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			return true
		}
	}
	return false
}
