package vncsrv_test

import (
	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

func snapshot(h *host.Host) (img *framebuf.Image) {
	h.WithScreen(func(s *screen.Screen) { img = s.Snapshot() })
	return img
}
