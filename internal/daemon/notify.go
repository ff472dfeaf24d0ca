package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// notifier tells a service manager (systemd, Type=notify) what the server is doing: one datagram
// per change of state, of newline-separated KEY=VALUE lines, to the Unix datagram socket named by
// $NOTIFY_SOCKET. Without one (started by hand), it does nothing. It is sd_notify(3)'s protocol,
// written out rather than linked: a few lines, no C.
type notifier struct {
	addr *net.UnixAddr // nil: no service manager is listening
}

// newNotifier reads $NOTIFY_SOCKET: a path, or an abstract socket name after '@', which Go's
// net package turns into the leading NUL the kernel expects.
func newNotifier() notifier {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" || (name[0] != '/' && name[0] != '@') {
		return notifier{} // vsock:… and other forms are not for this server
	}
	return notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// send sends the state lines; nil when there is no service manager.
func (n notifier) send(lines ...string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// ready says the server answers: once listening, and again after a reload.
func (n notifier) ready(status string) error { return n.send("READY=1", "STATUS="+status) }

// reloading says a reload began. MONOTONIC_USEC lets systemd 253 and later (Type=notify-reload)
// match it with the reload it asked for; older ones ignore it.
func (n notifier) reloading() error {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return n.send("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000), "STATUS=reloading")
}

// stopping says the server is shutting down.
func (n notifier) stopping() error { return n.send("STOPPING=1", "STATUS=shutting down") }
