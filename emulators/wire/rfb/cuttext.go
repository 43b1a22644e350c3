package rfb

import "fmt"

// Intel's CutText extensions (reference §2.5). Both ride in ordinary
// ClientCutText / ServerCutText messages.
const (
	// KvmDataChannelPrefix starts a data-channel payload; sent bare by the
	// client as a keep-alive, and by the server as an acknowledgement.
	KvmDataChannelPrefix = "\x00KvmDataChannel\x00"
	// KvmExtCmdPrefix starts an extended command: prefix, u8 cmd, u8 value.
	KvmExtCmdPrefix = "\x00KvmExtCmd\x00"
)

// Extended commands.
const (
	ExtCmdGetDecimation  uint8 = 1 // server report: (mode, state)
	ExtCmdSetDecimation  uint8 = 2 // 0 don't set, 1 disable, 2 auto, 3 enable
	ExtCmdGetCompression uint8 = 3 // server report: (value)
	ExtCmdSetCompression uint8 = 4 // zlib 0/1: switches encoding 16 to deflate framing
)

// CutKind classifies a CutText payload.
type CutKind uint8

const (
	CutClipboard   CutKind = iota // plain clipboard text
	CutDataChannel                // \0KvmDataChannel\0 + data
	CutExtCmd                     // \0KvmExtCmd\0 + cmd + value
)

// CutText is a classified CutText payload. Data aliases the input.
type CutText struct {
	Kind CutKind
	// Data is the data-channel payload after the 16-byte prefix, the
	// extended command's bytes after cmd and value, or the clipboard text.
	Data []byte
	// Ack: a server data-channel message of exactly 16 bytes, or whose byte
	// 15 is not zero, acknowledges the client's last message.
	Ack        bool
	Cmd, Value uint8
}

// ParseCutText classifies a CutText payload.
func ParseCutText(t []byte) (CutText, error) {
	const dc = KvmDataChannelPrefix
	switch {
	case len(t) >= len(dc) && string(t[:len(dc)-1]) == dc[:len(dc)-1]:
		return CutText{Kind: CutDataChannel, Data: t[len(dc):], Ack: len(t) == len(dc) || t[len(dc)-1] != 0}, nil
	case len(t) >= len(KvmExtCmdPrefix) && string(t[:len(KvmExtCmdPrefix)]) == KvmExtCmdPrefix:
		p := len(KvmExtCmdPrefix)
		if len(t) < p+2 {
			return CutText{}, bad("KvmExtCmd", "cmd", p, "cmd and value bytes (13 bytes or more)", fmt.Sprintf("%d bytes", len(t)))
		}
		return CutText{Kind: CutExtCmd, Cmd: t[p], Value: t[p+1], Data: t[p+2:]}, nil
	default:
		return CutText{Kind: CutClipboard, Data: t}, nil
	}
}

// AppendDataChannel appends a data-channel payload (prefix + data); with no
// data it is the keep-alive (client) or acknowledgement (server).
func AppendDataChannel(b, data []byte) []byte {
	return append(append(b, KvmDataChannelPrefix...), data...)
}

// AppendExtCmd appends an extended-command payload; extra follows the value
// (the decimation report carries a second byte, the state).
func AppendExtCmd(b []byte, cmd, value uint8, extra ...byte) []byte {
	b = append(append(b, KvmExtCmdPrefix...), cmd, value)
	return append(b, extra...)
}
