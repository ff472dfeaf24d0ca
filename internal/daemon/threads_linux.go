package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// threadIDs is what /proc says of one thread's credentials.
type threadIDs struct {
	tid              string
	uids, gids       []string // real, effective, saved, filesystem
	groups           []string
	permittedCaps    string
	effectiveCaps    string
	unreadableReason error
}

// readThreads reads the credentials of every thread of the process from /proc/self/task.
func readThreads() ([]threadIDs, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var out []threadIDs
	for _, t := range tasks {
		ids := threadIDs{tid: t.Name()}
		data, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "status"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			ids.unreadableReason = err
			out = append(out, ids)
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			key, value, _ := strings.Cut(line, ":")
			switch key {
			case "Uid":
				ids.uids = strings.Fields(value)
			case "Gid":
				ids.gids = strings.Fields(value)
			case "Groups":
				ids.groups = strings.Fields(value)
			case "CapPrm":
				ids.permittedCaps = strings.TrimSpace(value)
			case "CapEff":
				ids.effectiveCaps = strings.TrimSpace(value)
			}
		}
		out = append(out, ids)
	}
	return out, nil
}

// checkThreads confirms that every thread runs as a, with no supplementary group: a thread left
// as root would be root inside a server that says it is not.
func checkThreads(a account) error {
	threads, err := readThreads()
	if err != nil {
		return fmt.Errorf("checking the change to user %s: %w", a.name, err)
	}
	uid, gid := strconv.Itoa(a.uid), strconv.Itoa(a.gid)
	for _, t := range threads {
		ok := t.unreadableReason == nil && len(t.uids) == 4 && len(t.gids) == 4 && len(t.groups) == 0
		for i := 0; ok && i < 4; i++ {
			ok = t.uids[i] == uid && t.gids[i] == gid
		}
		if !ok {
			return fmt.Errorf("after changing to user %s, thread %s has uids %v, gids %v, groups %v (%v)", a, t.tid, t.uids, t.gids, t.groups, t.unreadableReason)
		}
	}
	return nil
}
