package linkemu

import "github.com/oobtb/oobtb/sim/clock"

// Link is a pair of Directions: AB carries frames from side A to side B,
// BA the reverse.
type Link struct{ AB, BA *Direction }

// NewLink starts both Directions. AB is seeded with seed and BA with a value
// derived from it, so the two directions draw independent streams.
func NewLink(name string, ab, ba Profile, seed uint64, clk clock.Clock, deliverAtB, deliverAtA func(pkt []byte)) *Link {
	return &Link{
		AB: NewDirection(name+"/ab", ab, seed, clk, deliverAtB),
		BA: NewDirection(name+"/ba", ba, seed^0xd1b54a32d192ed03, clk, deliverAtA),
	}
}

// SetProfile sets both directions' profiles.
func (l *Link) SetProfile(ab, ba Profile) {
	l.AB.SetProfile(ab)
	l.BA.SetProfile(ba)
}

// SetUp brings both directions up or down.
func (l *Link) SetUp(up bool) {
	l.AB.SetUp(up)
	l.BA.SetUp(up)
}

// SetPartitioned partitions or heals both directions.
func (l *Link) SetPartitioned(on bool) {
	l.AB.SetPartitioned(on)
	l.BA.SetPartitioned(on)
}

// Close stops both directions.
func (l *Link) Close() error {
	l.AB.Close()
	return l.BA.Close()
}
