package screen

import (
	"image"
	"math/bits"
)

// TileSize is the damage granularity and the largest rectangle the KVM
// encoder sends (AMT's consoles take tiles of at most 64×64).
const TileSize = 64

// Damage is a set of 64×64 tiles of a W×H screen. Tiles on the right and
// bottom edges may be smaller than 64×64; Rect clips them.
type Damage struct {
	W, H           int // screen size in pixels
	TilesX, TilesY int
	bits           []uint64
}

// NewDamage returns an empty set for a w×h screen.
func NewDamage(w, h int) Damage {
	tx, ty := (w+TileSize-1)/TileSize, (h+TileSize-1)/TileSize
	return Damage{W: w, H: h, TilesX: tx, TilesY: ty, bits: make([]uint64, (tx*ty+63)/64)}
}

func (d Damage) index(tx, ty int) (int, bool) {
	if tx < 0 || ty < 0 || tx >= d.TilesX || ty >= d.TilesY {
		return 0, false
	}
	return ty*d.TilesX + tx, true
}

// Has reports whether tile (tx, ty) is damaged.
func (d Damage) Has(tx, ty int) bool {
	i, ok := d.index(tx, ty)
	return ok && d.bits[i>>6]&(1<<(i&63)) != 0
}

// Set marks tile (tx, ty).
func (d *Damage) Set(tx, ty int) {
	if i, ok := d.index(tx, ty); ok {
		d.bits[i>>6] |= 1 << (i & 63)
	}
}

// MarkRect marks every tile that [x0,x1)×[y0,y1) touches, clipped to the
// screen.
func (d *Damage) MarkRect(x0, y0, x1, y1 int) {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, d.W), min(y1, d.H)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	for ty := y0 / TileSize; ty <= (y1-1)/TileSize; ty++ {
		for tx := x0 / TileSize; tx <= (x1-1)/TileSize; tx++ {
			d.Set(tx, ty)
		}
	}
}

// MarkAll marks every tile.
func (d *Damage) MarkAll() {
	n := d.TilesX * d.TilesY
	for i := range d.bits {
		d.bits[i] = ^uint64(0)
	}
	if r := n & 63; r != 0 {
		d.bits[len(d.bits)-1] = 1<<r - 1
	}
}

// Clear empties the set.
func (d *Damage) Clear() { clear(d.bits) }

// Or adds every tile of o (same geometry).
func (d *Damage) Or(o Damage) {
	for i := range d.bits {
		if i < len(o.bits) {
			d.bits[i] |= o.bits[i]
		}
	}
}

// Count is the number of damaged tiles.
func (d Damage) Count() int {
	n := 0
	for _, w := range d.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// Empty reports whether no tile is damaged.
func (d Damage) Empty() bool {
	for _, w := range d.bits {
		if w != 0 {
			return false
		}
	}
	return true
}

// Clone returns an independent copy.
func (d Damage) Clone() Damage {
	d.bits = append([]uint64(nil), d.bits...)
	return d
}

// TileRect is tile (tx, ty)'s pixel rectangle, clipped to the screen.
func (d Damage) TileRect(tx, ty int) image.Rectangle {
	return image.Rect(tx*TileSize, ty*TileSize, min((tx+1)*TileSize, d.W), min((ty+1)*TileSize, d.H))
}

// ForEach calls f with each damaged tile's rectangle in row-major order.
func (d Damage) ForEach(f func(r image.Rectangle)) {
	for wi, w := range d.bits {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &= w - 1
			i := wi*64 + b
			f(d.TileRect(i%d.TilesX, i/d.TilesX))
		}
	}
}

// Rects returns the damaged tiles' rectangles in row-major order; each is at
// most 64×64, as the KVM encoder sends them.
func (d Damage) Rects() []image.Rectangle {
	out := make([]image.Rectangle, 0, d.Count())
	d.ForEach(func(r image.Rectangle) { out = append(out, r) })
	return out
}

// Contains reports whether pixel (x, y) lies in a damaged tile.
func (d Damage) Contains(x, y int) bool {
	if x < 0 || y < 0 || x >= d.W || y >= d.H {
		return false
	}
	return d.Has(x/TileSize, y/TileSize)
}
