package screen

// noise (W5) fills the screen with seeded random colour every content
// frame. The top bit of red follows the frame number's parity, so every
// pixel changes from one frame to the next in every wire format the KVM
// server sends (RGB565, RGB332 and grey keep that bit).
type noise struct {
	w, h int
	seed uint64
	n    uint64
}

func (s *noise) advance(n uint64) bool {
	changed := n != s.n
	s.n = n
	return changed
}

func (s *noise) draw(c canvas, _ bool, d *Damage) {
	d.MarkRect(0, 0, s.w, s.h)
	parity := uint32(s.n&1) << 23
	for y := c.clip.Min.Y; y < c.clip.Max.Y; y++ {
		st := hash2(s.seed, s.n, uint64(y)) | 1
		row := c.img.Pix[(y-c.oy)*c.img.Stride+c.clip.Min.X-c.ox : (y-c.oy)*c.img.Stride+c.clip.Max.X-c.ox]
		for x := 0; x < len(row); x += 2 {
			st ^= st >> 12
			st ^= st << 25
			st ^= st >> 27
			v := st * 0x2545F4914F6CDD1D
			row[x] = uint32(v)&0x7FFFFF | parity
			if x+1 < len(row) {
				row[x+1] = uint32(v>>32)&0x7FFFFF | parity
			}
		}
	}
}
