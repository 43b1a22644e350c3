package netns

import (
	"fmt"
	"os"

	"github.com/songgao/water"
	"golang.org/x/sys/unix"
)

// vnetHdrLen is the virtio_net_hdr prefixed to every frame of an
// offloading TAP.
const vnetHdrLen = 10

// maxGSOFrame bounds an offloading TAP's frames: a 64 KiB GSO super-frame
// plus Ethernet header and the virtio header.
const maxGSOFrame = 65536 + frameSlack + vnetHdrLen

// openTAP creates the TAP device name in the calling thread's namespace.
// The device is persistent: closing the fd leaves it to be removed with its
// namespace, in one batch with the others.
//
// With offload, the TAP carries TCP segmentation offload: the kernel hands
// over up to 64 KiB super-frames with a virtio_net_hdr in front and takes
// them back the same way, so one read and one write move what would
// otherwise be some 44 frames.
func openTAP(name string, offload bool) (*os.File, error) {
	if !offload {
		ifce, err := water.New(water.Config{DeviceType: water.TAP, PlatformSpecificParams: water.PlatformSpecificParams{Name: name, Persist: true}})
		if err != nil {
			return nil, err
		}
		f, ok := ifce.ReadWriteCloser.(*os.File)
		if !ok {
			_ = ifce.Close()
			return nil, fmt.Errorf("unexpected device type %T", ifce.ReadWriteCloser)
		}
		return f, nil
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fail := func(what string, err error) (*os.File, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fail("name", err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fail("TUNSETIFF", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
		return fail("TUNSETVNETHDRSZ", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6); err != nil {
		return fail("TUNSETOFFLOAD", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fail("TUNSETPERSIST", err)
	}
	// The fd is non-blocking, so os.NewFile hands it to the Go poller.
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}
