package netns

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Namespace destruction is asynchronous: after the last reference goes,
// the kernel's cleanup work unregisters the devices and frees the
// namespace later. To see it happen without holding a reference (which
// would keep it alive), every namespace gets a netns id in the host
// namespace's id table; the kernel drops that id when the namespace is
// really destroyed, which a dump of the table (RTM_GETNSID) shows. An id is
// only a number in a table: nothing is connected to the host.

// assignNSID gives ns an id in the caller's (host) namespace.
func assignNSID(ns vnetns.NsHandle) (int, error) {
	if id, err := netlink.GetNetNsIdByFd(int(ns)); err == nil && id >= 0 {
		return id, nil
	}
	if err := netlink.SetNetNsIdByFd(int(ns), -1); err != nil {
		return -1, err
	}
	return netlink.GetNetNsIdByFd(int(ns))
}

// liveNSIDs lists the ids in the host namespace's table.
func liveNSIDs() (map[int]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETNSID, unix.NLM_F_DUMP)
	req.AddData(nl.NewRtGenMsg())
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWNSID)
	if err != nil {
		return nil, err
	}
	ids := map[int]bool{}
	for _, m := range msgs {
		g := nl.DeserializeRtGenMsg(m)
		attrs, err := nl.ParseRouteAttr(m[g.Len():])
		if err != nil {
			continue
		}
		for _, a := range attrs {
			if a.Attr.Type == netlink.NETNSA_NSID && len(a.Value) >= 4 {
				ids[int(int32(binary.NativeEndian.Uint32(a.Value)))] = true
			}
		}
	}
	return ids, nil
}

// waitDestroyed polls until none of ids is in the host's table any more:
// the kernel has destroyed those namespaces and every device in them. ids
// maps a namespace id to its name, for the error. A namespace that stays
// is held by something outside our control: an open socket or file made
// inside it, or a process in it.
func waitDestroyed(ids map[int]string) error {
	var left []string
	err := poll("namespace destruction", func() bool {
		live, err := liveNSIDs()
		if err != nil {
			return false
		}
		left = left[:0]
		for id, name := range ids {
			if id >= 0 && live[id] {
				left = append(left, name)
			}
		}
		return len(left) == 0
	})
	if err != nil {
		sort.Strings(left)
		return fmt.Errorf("netns: namespaces %s not destroyed after %s: a socket, file or process made inside them is still open", strings.Join(left, ", "), GoneTimeout)
	}
	return nil
}

// nsidOfPath is the id of the namespace mounted at path, or -1.
func nsidOfPath(path string) int {
	ns, err := vnetns.GetFromPath(path)
	if err != nil {
		return -1
	}
	defer ns.Close()
	id, err := netlink.GetNetNsIdByFd(int(ns))
	if err != nil {
		return -1
	}
	return id
}
