package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// LoadCertificate reads a PEM certificate chain and its private key, as the encrypted listeners
// do; errors name the file at fault. `warden check` uses it to validate the tls configuration.
func LoadCertificate(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// certCheckInterval is how often, at most, the files are looked at again. The look happens during
// a handshake, so a server nobody connects to does no work at all.
const certCheckInterval = time.Second

// certStore serves the certificate to every handshake of a listener and reloads it when its files
// change on disk (rewritten, or replaced by rename as certificate managers do), without touching
// the connections already open: a session keeps the certificate it was made with.
//
// Certificate and key are replaced one after the other, so for a moment the pair on disk may not
// match. A pair that does not load is logged and the certificate in force is kept; the next change
// (the second file arriving) loads it.
type certStore struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]
	// next is when the files are looked at again, as Unix nanoseconds.
	next atomic.Int64

	mu                sync.Mutex // one look at the files at a time; handshakes meanwhile use cur
	certStat, keyStat os.FileInfo
}

func newCertStore(certFile, keyFile string, log *slog.Logger) (*certStore, error) {
	c := &certStore{certFile: certFile, keyFile: keyFile, interval: certCheckInterval, log: log}
	c.certStat, c.keyStat = stat(certFile), stat(keyFile)
	cert, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	c.next.Store(time.Now().Add(c.interval).UnixNano())
	return c, nil
}

func stat(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

// sameFile says whether a and b describe the same file with the same contents, as far as the size
// and modification time tell (a rename brings a different inode; a rewrite a new time).
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// getCertificate is tls.Config.GetCertificate.
func (c *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if now := time.Now(); now.UnixNano() >= c.next.Load() && c.mu.TryLock() {
		c.next.Store(now.Add(c.interval).UnixNano())
		c.check()
		c.mu.Unlock()
	}
	return c.cur.Load(), nil
}

// check reloads the pair when either file changed since the last look. Called with mu held.
func (c *certStore) check() {
	cs, ks := stat(c.certFile), stat(c.keyFile)
	if sameFile(cs, c.certStat) && sameFile(ks, c.keyStat) {
		return
	}
	c.certStat, c.keyStat = cs, ks
	cert, err := LoadCertificate(c.certFile, c.keyFile)
	if err != nil {
		// Often the first of two files being replaced; the second one's change loads the pair.
		c.log.Warn("tls certificate not reloaded; the one in force stays", "err", err)
		return
	}
	c.cur.Store(cert)
	if cert.Leaf != nil {
		c.log.Info("tls certificate reloaded", "cert", c.certFile, "subject", cert.Leaf.Subject.String(), "expires", cert.Leaf.NotAfter)
	} else {
		c.log.Info("tls certificate reloaded", "cert", c.certFile)
	}
}

// tlsConfig is the TLS configuration of an encrypted listener speaking protocol (its ALPN name).
func (c *certStore) tlsConfig(minVersion uint16, protocols ...string) *tls.Config {
	return &tls.Config{
		GetCertificate: c.getCertificate,
		MinVersion:     minVersion,
		NextProtos:     protocols,
	}
}
