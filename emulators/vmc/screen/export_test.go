package screen

import "github.com/oobtb/oobtb/emulators/framebuf"

// Test hooks: where the input panel's text starts and its colours, and a
// way to draw text exactly as the screen's face does.
func PanelTextOrigin(s *Screen) (x, y int) { return s.panel.textOrigin() }

const (
	PanelFg    = panelFg
	PanelBg    = panelBg
	PanelCellW = panelCellW
	PanelCellH = panelCellH
)

// DrawPanelText paints s onto img with the input panel's face, straight
// from the font, one cell per rune.
func DrawPanelText(img *framebuf.Image, x, y int, s string, fg uint32) {
	c := newCanvas(img, 0, 0)
	for i, r := range []rune(s) {
		c.glyphIn(latin8x16, x+i*panelCellW, y, r, fg)
	}
}

// PanelGrid returns the input panel's lines as text.
func PanelLines(s *Screen) []string {
	var out []string
	for r := 0; r < s.panel.grid.rows; r++ {
		out = append(out, string(s.panel.grid.line(r)))
	}
	return out
}
