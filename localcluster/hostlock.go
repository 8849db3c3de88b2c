package localcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hostLockPath serialises full clusters on one host: they share the bridge,
// ports 443 and 10250 and /var/lib/kubelet, so a second one (another test
// package running in parallel under `go test ./...`) waits for the first to
// stop instead of failing.
const hostLockPath = "/run/kvcsi-localcluster.lock"

var (
	hostLockMu    sync.Mutex
	hostLockFile  *os.File
	hostLockCount int
	// skipHostLock is set by a test helper process whose parent holds the
	// lock on its behalf.
	skipHostLock bool
)

// acquireHostLock takes the host-wide lock (reentrant within this process),
// waiting for another process's cluster to stop while ctx allows.
func acquireHostLock(ctx context.Context, log *slog.Logger) error {
	hostLockMu.Lock()
	defer hostLockMu.Unlock()
	if skipHostLock {
		return nil
	}
	if hostLockCount > 0 {
		hostLockCount++
		return nil
	}
	f, err := os.OpenFile(hostLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open the host lock %s: %w", hostLockPath, err)
	}
	logged := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return fmt.Errorf("lock %s: %w", hostLockPath, err)
		}
		if !logged {
			log.Info("waiting for another local cluster on this host to stop", "lock", hostLockPath)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("another local cluster holds %s: %w", hostLockPath, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	hostLockFile, hostLockCount = f, 1
	return nil
}

// releaseHostLock undoes one acquireHostLock.
func releaseHostLock() {
	hostLockMu.Lock()
	defer hostLockMu.Unlock()
	if skipHostLock || hostLockCount == 0 {
		return
	}
	hostLockCount--
	if hostLockCount == 0 {
		hostLockFile.Close() // closing releases the flock
		hostLockFile = nil
	}
}
