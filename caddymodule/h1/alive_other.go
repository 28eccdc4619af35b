//go:build !unix || aix

package h1

import "net"

// peeker cannot peek at a socket here; a connection the provider closed
// while idle fails its next request, which is sent again on a new one when
// nothing of it could be written.
type peeker struct{}

// canPeek says whether idle connections are checked with a peek here.
const canPeek = false

func newPeeker(net.Conn) *peeker { return nil }

func (*peeker) alive() bool { return true }
