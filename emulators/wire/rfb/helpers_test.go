package rfb_test

import (
	"github.com/oobtb/oobtb/internal/hexvec"
)

// hx reads a golden vector in the reference's notation.
var hx = hexvec.Parse
