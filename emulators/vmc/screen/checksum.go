package screen

import "github.com/oobtb/oobtb/emulators/framebuf"

// ChecksumImage is FNV-1a 64 over the image's pixels in row-major order,
// three bytes each (R, G, B). A console that rebuilds a 24/32-bit frame can
// compute the same value to check it received the frame intact.
func ChecksumImage(img *framebuf.Image) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	if img == nil {
		return h
	}
	for y := 0; y < img.H; y++ {
		for _, p := range img.Pix[y*img.Stride : y*img.Stride+img.W] {
			h = (h ^ uint64(p>>16&0xFF)) * prime
			h = (h ^ uint64(p>>8&0xFF)) * prime
			h = (h ^ uint64(p&0xFF)) * prime
		}
	}
	return h
}
