//go:build linux

package netbed

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// delayedLink joins devA in a and devB in b by a link that delays every packet by d each way.
// tc netem would do it on a veth pair, but kernels without sch_netem (this project's CI VMs among
// them) refuse it; a pair of TUN devices with the packets carried across in user space works on
// any kernel with TUN. Each direction is a FIFO, so the delay is constant and order is kept; a
// direction with queueCap packets in flight drops the next, as a full router queue does.
func (b *Bed) delayedLink(t testing.TB, a NS, devA string, bns NS, devB string, d time.Duration) error {
	fa, err := openTUN(a, b.Dev(devA))
	if err != nil {
		return err
	}
	fb, err := openTUN(bns, b.Dev(devB))
	if err != nil {
		fa.Close()
		return err
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() { carry(fa, fb, d, done) })
	wg.Go(func() { carry(fb, fa, d, done) })
	t.Cleanup(func() {
		close(done)
		fa.Close()
		fb.Close()
		wg.Wait()
	})
	return nil
}

// queueCap bounds the packets in flight in one direction of a delayed link.
const queueCap = 4096

type inFlight struct {
	due time.Time
	pkt []byte
}

// carry reads packets from src and writes each to dst d after it was read, until done or src is
// closed.
func carry(src, dst *os.File, d time.Duration, done <-chan struct{}) {
	queue := make(chan inFlight, queueCap)
	var wg sync.WaitGroup
	wg.Go(func() {
		for p := range queue {
			if wait := time.Until(p.due); wait > 0 {
				select {
				case <-time.After(wait):
				case <-done:
					return
				}
			}
			_, _ = dst.Write(p.pkt)
		}
	})
	defer wg.Wait()
	defer close(queue)
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p := inFlight{due: time.Now().Add(d), pkt: append([]byte(nil), buf[:n]...)}
		select {
		case queue <- p:
		case <-done:
			return
		default: // full: dropped
		}
	}
}

// openTUN makes a TUN device named dev inside ns (packets without the packet-information header)
// and returns it as a pollable file, whose Close ends a Read in progress.
func openTUN(ns NS, dev string) (*os.File, error) {
	var f *os.File
	err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUN device %q: %w", dev, err)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s in %s: %w", dev, ns, err)
		}
		f = os.NewFile(uintptr(fd), dev)
		return nil
	})
	return f, err
}
