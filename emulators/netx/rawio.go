package netx

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// RawIO returns c with Read and Write issued as raw system calls on its
// non-blocking socket, or c itself when c is not a *net.TCPConn.
//
// Why: a read or write of a non-blocking socket never sleeps in the kernel,
// yet Go enters it as a blocking call, and when the process runs on one P
// (a server holding only idle tunnels, see emulators/server/procs.go) the
// runtime's monitor takes the P away from any call that lasts a few tens
// of microseconds — a loopback write does — and wakes another thread to
// run it, then keeps itself awake at its shortest interval. At 19,000 idle
// CIRA tunnels that cost more CPU than the keep-alives themselves. Waiting
// for readiness, deadlines and Close still go through the runtime's poller
// (syscall.RawConn), so the connection behaves as before.
func RawIO(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &rawIOConn{TCPConn: tc, rc: rc}
}

type rawIOConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *rawIOConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n     int
		errno syscall.Errno
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait for readability in the poller
			}
			n, errno = int(r), e
			return true
		}
	})
	return c.result(n, errno, err, "read", true)
}

func (c *rawIOConn) Write(b []byte) (int, error) {
	var (
		done  int
		errno syscall.Errno
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(b) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[done])), uintptr(len(b)-done))
			switch e {
			case 0:
				done += int(r)
				continue
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // socket buffer full: wait for writability
			}
			errno = e
			return true
		}
		return true
	})
	n, rerr := c.result(done, errno, err, "write", false)
	if rerr == nil && n < len(b) {
		rerr = io.ErrShortWrite
	}
	return n, rerr
}

// result turns a raw call's outcome into what net.Conn returns: the
// poller's error (deadline, closed) as it is, a kernel error as a
// *net.OpError, and end of stream for a read as io.EOF.
func (c *rawIOConn) result(n int, errno syscall.Errno, err error, op string, read bool) (int, error) {
	if err != nil {
		return n, err
	}
	if errno != 0 {
		return n, &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError(op, errno)}
	}
	if read && n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
