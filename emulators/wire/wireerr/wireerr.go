// Package wireerr is the error every oobtb codec returns for bad input.
//
// A decoder error names the message, the field and the byte offset, and says
// what was expected and what came, so a vendor reading a conformance report
// can find the offending byte in a capture without a debugger.
package wireerr

import (
	"errors"
	"fmt"
)

// ErrShort marks input that is a valid prefix of a message: the caller should
// read more bytes and try again. Test with errors.Is.
var ErrShort = errors.New("need more bytes")

// Error describes malformed input.
type Error struct {
	Proto    string // "APF", "RFB", "redirection", …
	Message  string // message or structure name, e.g. "CHANNEL_OPEN"
	Field    string // field name, e.g. "channel type length"
	Offset   int    // byte offset of the field from the start of the message
	Expected string // what a well-formed message has there
	Got      string // what the input had
	short    bool
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: field %q at offset %d", e.Proto, e.Message, e.Field, e.Offset)
	if e.Expected != "" {
		s += ": expected " + e.Expected
	}
	if e.Got != "" {
		s += ", got " + e.Got
	}
	return s
}

// Is lets errors.Is(err, ErrShort) match truncated-input errors.
func (e *Error) Is(target error) bool { return target == ErrShort && e.short }

// New returns a malformed-input error.
func New(proto, msg, field string, off int, expected, got string) *Error {
	return &Error{Proto: proto, Message: msg, Field: field, Offset: off, Expected: expected, Got: got}
}

// Short returns a truncated-input error that also matches ErrShort.
func Short(proto, msg, field string, off, need, have int) *Error {
	return &Error{Proto: proto, Message: msg, Field: field, Offset: off,
		Expected: fmt.Sprintf("%d bytes", need), Got: fmt.Sprintf("%d bytes", have), short: true}
}
