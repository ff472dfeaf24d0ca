package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"warden/internal/config"
	"warden/internal/query"
	"warden/internal/server"
)

// Giving root up. Ports below 1024 (53, 853, 443) need root or CAP_NET_BIND_SERVICE; nothing
// after binding them does. So a server started as root with `user:` (--user) opens its listeners
// and control socket, hands the directories it writes to that user, and then becomes the user
// and its group, with no supplementary groups, on every thread (the UDP workers run on locked
// OS threads started before the change). What it cannot write or read afterwards is said at
// once, naming the path and the fix, rather than at the first transfer or reload.

// account is the user the server runs as once its sockets are open.
type account struct {
	name     string
	uid, gid int
}

func (a account) String() string { return fmt.Sprintf("%s (uid %d, gid %d)", a.name, a.uid, a.gid) }

// lookupAccount finds the user named (or numbered) name and its primary group.
func lookupAccount(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if byID, idErr := user.LookupId(name); idErr == nil {
			u, err = byID, nil
		}
	}
	if err != nil {
		return account{}, fmt.Errorf("user %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return account{}, fmt.Errorf("user %q: ids %s:%s: %w", name, u.Uid, u.Gid, err)
	}
	return account{name: u.Username, uid: uid, gid: gid}, nil
}

// ownedDir is a directory the server writes in and keeps for itself: the storage directory, the
// state directory, the control socket's directory.
type ownedDir struct {
	what, path string
	// existed says the directory was there before this server started. One the server made
	// (as root, before giving root up) is handed over whole; one that was there already is handed
	// over only when it is the account's already, and then only what root made in it: the
	// server never takes a directory from its owner (storage: /var/lib would hand /var/lib over).
	existed bool
	// optional: not being able to write there is a warning, not an error.
	optional bool
}

// ownedDirs are cfg's directories, noting which exist now; Run calls it before anything is
// written.
func ownedDirs(cfg *config.Config) []ownedDir {
	var dirs []ownedDir
	add := func(what, path string, optional bool) {
		if path == "" {
			return
		}
		_, err := os.Lstat(path)
		dirs = append(dirs, ownedDir{what: what, path: path, existed: err == nil, optional: optional})
	}
	add("storage", cfg.Storage, false)
	add("state_dir", cfg.StateDir, false)
	add("query_log.dir", cfg.QueryLog.Dir, false)
	if cfg.Control.Socket != "" {
		// Written once: the socket is removed from it at shutdown.
		add("the control socket's directory", filepath.Dir(cfg.Control.Socket), true)
	}
	return dirs
}

// handOver makes d the account's, as ownedDir.existed says; a directory that is still missing
// is not needed (the storage of a server whose zones keep no journal and no copy).
func (d ownedDir) handOver(a account) error {
	var st unix.Stat_t
	if err := unix.Lstat(d.path, &st); errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return err
	}
	if d.existed && int(st.Uid) != a.uid {
		return nil // someone else's: checkAccess says whether the account may write there
	}
	fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return chownTree(fd, a, 0)
}

// chownTree makes the directory open at fd, and every directory and file below it that root owns,
// the account's. It works on descriptors and never follows a link, so that nothing the account
// put there (a symbolic link, a directory swapped for one) can lead it out of the tree; a file
// with more than one hard link is left alone, since its other name may be a file root keeps
// elsewhere.
func chownTree(fd int, a account, depth int) error {
	if depth > 16 {
		return errors.New("more than 16 levels of directories")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Uid == 0 {
		if err := unix.Fchown(fd, a.uid, a.gid); err != nil {
			return err
		}
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(dup), "")
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		var est unix.Stat_t
		if err := unix.Fstatat(fd, name, &est, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone meanwhile
		}
		isDir := est.Mode&unix.S_IFMT == unix.S_IFDIR
		if !isDir && est.Mode&unix.S_IFMT != unix.S_IFREG {
			continue // links, sockets, pipes: not the server's files
		}
		cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // swapped for a link meanwhile, or gone
		}
		err = chownEntry(cfd, a, depth)
		unix.Close(cfd)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// chownEntry hands over one entry of a tree, open at fd: looked at again through the descriptor,
// since the name may have changed hands since it was listed.
func chownEntry(fd int, a account, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return chownTree(fd, a, depth+1)
	case unix.S_IFREG:
		if st.Uid == 0 && st.Nlink == 1 {
			return unix.Fchown(fd, a.uid, a.gid)
		}
	}
	return nil
}

// dropPrivileges hands the server's directories and its control socket to a, then changes every
// thread of the process to a's user and group with no supplementary groups, and checks that it
// did. A server already running as a (under a service manager that started it so) only checks.
func dropPrivileges(a account, cfg *config.Config, dirs []ownedDir, socket string, log *slog.Logger) error {
	switch euid := os.Geteuid(); {
	case euid == a.uid:
		log.Info("running as user already", "user", a.String())
		return checkAccess(a, cfg, dirs, log)
	case euid != 0:
		return fmt.Errorf("user %s: only root can change to another user, and this server runs as uid %d: start it as root, or as %s itself", a.name, euid, a.name)
	}
	var errs []error
	for _, d := range dirs {
		if err := d.handOver(a); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: making it user %s's: %w", d.what, d.path, a.name, err))
		}
	}
	if socket != "" {
		if err := os.Lchown(socket, a.uid, a.gid); err != nil {
			errs = append(errs, fmt.Errorf("control socket %s: making it user %s's: %w", socket, a.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := setIDs(a); err != nil {
		return fmt.Errorf("changing to user %s: %w", a, err)
	}
	if err := checkThreads(a); err != nil {
		return err
	}
	log.Info("running as user", "user", a.String())
	return checkAccess(a, cfg, dirs, log)
}

// setIDs changes the process to a's group and user, with no supplementary groups; the group
// first, while the process may still change it. Since Go 1.16 these apply to every thread.
func setIDs(a account) error {
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(a.gid); err != nil {
		return fmt.Errorf("setgid %d: %w", a.gid, err)
	}
	if err := syscall.Setuid(a.uid); err != nil {
		return fmt.Errorf("setuid %d: %w", a.uid, err)
	}
	return nil
}

// checkAccess says, as the account, what the server will not be able to do: a directory it writes
// that it cannot is an error; a file it reads again later (zones, certificate, key, token, lists)
// that it cannot read is a warning, since what was read at the start keeps serving.
func checkAccess(a account, cfg *config.Config, dirs []ownedDir, log *slog.Logger) error {
	var errs []error
	for _, d := range dirs {
		err := unix.Access(d.path, unix.W_OK|unix.X_OK)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
		case d.optional:
			log.Warn("directory not writable by the server's user", "dir", d.path, "what", d.what, "user", a.name, "owner", describe(d.path))
		default:
			errs = append(errs, fmt.Errorf("%s %s is not writable by user %s (%s): %w; make it theirs (chown -R %s: %s) or name another",
				d.what, d.path, a.name, describe(d.path), err, a.name, d.path))
		}
	}
	// Directories written in but not kept: a secondary's copy in a file of its own, a primary's
	// file written back after dynamic updates.
	for _, z := range cfg.Zones {
		if z.File == "" || (!z.IsSecondary() && len(z.AllowUpdate) == 0) {
			continue
		}
		dir := filepath.Dir(z.File)
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			log.Warn("zone file's directory not writable by the server's user: changes are kept in the journal but not written to the file",
				"zone", z.Origin, "dir", dir, "user", a.name, "owner", describe(dir))
		}
	}
	for _, f := range readFiles(cfg) {
		// A missing file is its loader's to report (a zone file's, as the zone's error).
		if err := unix.Access(f.path, unix.R_OK); err != nil && !errors.Is(err, unix.ENOENT) {
			log.Warn("file not readable by the server's user: what was read at the start stays in force, but it will not be read again",
				"file", f.path, "what", f.what, "user", a.name, "owner", describe(f.path), "err", err)
		}
	}
	return errors.Join(errs...)
}

type namedFile struct{ what, path string }

// readFiles are the files the server reads again while it runs (on change, SIGHUP or a refresh).
func readFiles(cfg *config.Config) []namedFile {
	var out []namedFile
	add := func(what, path string) {
		if path != "" {
			out = append(out, namedFile{what, path})
		}
	}
	add("tls.cert", cfg.TLS.Cert)
	add("tls.key", cfg.TLS.Key)
	add("control.http.token_file", cfg.Control.HTTP.TokenFile)
	for _, z := range cfg.Zones {
		if !z.IsSecondary() {
			add("zone "+z.Origin, z.File)
		}
	}
	for _, r := range cfg.Policy.RPZ {
		if !r.IsTransferred() {
			add("policy zone "+r.Origin, r.File)
		}
	}
	for _, b := range cfg.Policy.Blocklists {
		if !b.IsURL() {
			add("blocklist "+b.Name, b.Source)
		}
	}
	if h := cfg.Resolver.RootHints; h != "iana" {
		add("resolver.root_hints", h)
	}
	return out
}

// describe gives a path's owner and mode, as ls shows them, for messages.
func describe(path string) string {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrPermission) {
		// A directory on the way is closed to the user: name it, since it is what to change.
		for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
			if dir == filepath.Dir(dir) {
				break
			}
			if unix.Access(dir, unix.X_OK) != nil && unix.Access(filepath.Dir(dir), unix.X_OK) == nil {
				return fmt.Sprintf("the directory %s on the way is closed to the user: %s", dir, describe(dir))
			}
		}
	}
	if err != nil {
		return err.Error()
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.Mode().String()
	}
	owner, group := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("owner %s:%s, mode %s", owner, group, fi.Mode())
}

// rootGate holds every query until the process has given up root (open), so that no packet is
// handled with root's rights in the moment between the listeners opening and the drop; if the
// drop fails, shut lets the waiting queries go unanswered. Only a server with an account to run
// as has one: the check is one atomic load per query.
type rootGate struct {
	h      server.Handler
	opened atomic.Bool // set once the drop succeeded
	done   chan struct{}
	once   sync.Once
}

func newRootGate(h server.Handler) *rootGate { return &rootGate{h: h, done: make(chan struct{})} }

func (g *rootGate) ServeDNS(req *query.Request, out []byte) []byte {
	if !g.opened.Load() {
		<-g.done
		if !g.opened.Load() {
			return nil // the drop failed: the server is stopping, and nothing is answered as root
		}
	}
	return g.h.ServeDNS(req, out)
}

// open lets the queries through; shut, after open or instead of it, releases the waiting ones.
func (g *rootGate) open() { g.opened.Store(true); g.shut() }
func (g *rootGate) shut() { g.once.Do(func() { close(g.done) }) }
