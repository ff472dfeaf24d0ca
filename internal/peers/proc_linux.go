package peers

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// procAttr puts a peer in a process group of its own and has the kernel send it SIGTERM when the
// thread that forked it ends, which fork.go makes the end of this process. SIGTERM rather than
// SIGKILL so that NSD stops the children it forked, which the signal does not reach.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
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
