package netns

import (
	"fmt"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// hostNS is the namespace the process started in. The main thread never
// switches namespaces (only dedicated locked goroutines do), so
// /proc/self/ns/net — the thread-group leader's — names it.
var hostNS = func() vnetns.NsHandle {
	h, err := vnetns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return vnetns.None()
	}
	return h
}()

// inNS runs f on an OS thread switched into ns. The thread returns to the
// host namespace afterwards; if that fails it stays locked and dies with
// its goroutine, so no other goroutine ever runs in a foreign namespace.
// Sockets and files opened by f belong to ns and work from any goroutine.
// Goroutines that f starts do not inherit ns.
func inNS(ns vnetns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := vnetns.Set(ns); err != nil {
			errc <- fmt.Errorf("netns: enter namespace: %w", err)
			return
		}
		err := f()
		if hostNS.IsOpen() && vnetns.Set(hostNS) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// inNewNS creates the named namespace on a locked thread, runs f inside it
// and switches the thread back to the host namespace. Relying on the thread
// dying with its goroutine is not enough: the runtime never ends the main
// thread, it only parks it — still inside the namespace, keeping it alive.
func inNewNS(name string, f func(ns vnetns.NsHandle) error) (vnetns.NsHandle, error) {
	type res struct {
		ns  vnetns.NsHandle
		err error
	}
	c := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := vnetns.NewNamed(name)
		if err != nil {
			// unshare may have succeeded: go home if we can, or stay locked.
			if hostNS.IsOpen() && vnetns.Set(hostNS) == nil {
				runtime.UnlockOSThread()
			}
			c <- res{vnetns.None(), fmt.Errorf("netns: create %s: %w", name, err)}
			return
		}
		err = f(ns)
		if hostNS.IsOpen() && vnetns.Set(hostNS) == nil {
			runtime.UnlockOSThread()
		}
		c <- res{ns, err}
	}()
	r := <-c
	return r.ns, r.err
}
