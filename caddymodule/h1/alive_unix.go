//go:build unix && !aix

package h1

import (
	"errors"
	"net"
	"syscall"
)

// canPeek says whether idle connections are checked with a peek here.
const canPeek = true

// peeker asks the kernel whether an idle connection is still open and
// silent: the provider may have closed it while it waited in the pool
// (net/http learns that from its per-connection read loop; here one
// non-blocking peek does). It is made once per connection, so a check
// allocates nothing.
type peeker struct {
	rc   syscall.RawConn
	open bool
	buf  [1]byte
	fn   func(fd uintptr) bool
}

func newPeeker(nc net.Conn) *peeker {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peeker{rc: rc}
	p.fn = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, the connection is open and quiet. No
		// error is either the provider's FIN or data nobody asked for;
		// any other error is a reset.
		p.open = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true
	}
	return p
}

// alive reports whether the connection is open with nothing to read; a
// connection it cannot peek at is taken as alive.
func (p *peeker) alive() bool {
	if p == nil {
		return true
	}
	p.open = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.open
}
