package redir

// SOL messages (reference §2.6). Every one starts with the opcode, three
// reserved bytes and a little-endian u32 sequence number.

// StartSOL asks AMT to start serial-over-LAN (console → AMT, 24 bytes).
type StartSOL struct {
	Seq               uint32
	MaxTxBuffer       uint16 // MeshCentral 10000, amtterm 1000
	TxTimeout         uint16 // 100
	TxOverflowTimeout uint16 // 0
	RxTimeout         uint16 // 10000
	RxFlushTimeout    uint16 // 100
	Heartbeat         uint16 // 0 (amtterm 5000)
	Reserved          uint32
}

func (*StartSOL) Opcode() Opcode { return OpStartSOL }

func (m *StartSOL) Append(b []byte) []byte {
	b = solHead(b, OpStartSOL, 0, m.Seq)
	for _, v := range [...]uint16{m.MaxTxBuffer, m.TxTimeout, m.TxOverflowTimeout, m.RxTimeout, m.RxFlushTimeout, m.Heartbeat} {
		b = put16(b, v)
	}
	return put32(b, m.Reserved)
}

// StartSOLReply answers StartSOL (AMT → console, 23 bytes). Consoles read
// only the status; the layout of bytes 4–22 is not confirmed by any source
// (amtterm assumes an empty OEM field there), so they are kept verbatim.
type StartSOLReply struct {
	Status uint8
	Data   [19]byte
}

func (*StartSOLReply) Opcode() Opcode { return OpStartSOLReply }

func (m *StartSOLReply) Append(b []byte) []byte {
	b = append(b, byte(OpStartSOLReply), m.Status, 0, 0)
	return append(b, m.Data[:]...)
}

// SOLSeqMsg is the 8-byte form shared by EndSOL (0x22), EndSOLReply (0x23),
// ping (0x24), pong (0x25) and heartbeat (0x2B).
type SOLSeqMsg struct {
	Op  Opcode
	Seq uint32
}

func (m *SOLSeqMsg) Opcode() Opcode { return m.Op }

func (m *SOLSeqMsg) Append(b []byte) []byte { return solHead(b, m.Op, 0, m.Seq) }

// SOLControlSettings is the 14-byte 0x27 message MeshCentral sends after the
// start reply (`27 00 00 00`, seq, `00 00 1B 00 00 00`); its name and field
// meanings are unconfirmed, so the six bytes are kept verbatim.
type SOLControlSettings struct {
	Seq      uint32
	Settings [6]byte
}

// MeshCentralControlSettings is the payload MeshCentral sends.
var MeshCentralControlSettings = [6]byte{0, 0, 0x1B, 0, 0, 0}

func (*SOLControlSettings) Opcode() Opcode { return OpSOLControlSettings }

func (m *SOLControlSettings) Append(b []byte) []byte {
	b = solHead(b, OpSOLControlSettings, 0, m.Seq)
	return append(b, m.Settings[:]...)
}

// SOLData carries serial bytes: Op is OpSOLDataToHost (console → host) or
// OpSOLDataFromHost (host → console). 10 + len bytes.
type SOLData struct {
	Op   Opcode
	Seq  uint32
	Data []byte // at most MaxSOLData bytes
}

func (m *SOLData) Opcode() Opcode { return m.Op }

// Append encodes the message; data beyond MaxSOLData bytes is cut, callers
// split larger writes.
func (m *SOLData) Append(b []byte) []byte {
	d := m.Data
	if len(d) > MaxSOLData {
		d = d[:MaxSOLData]
	}
	b = solHead(b, m.Op, 0, m.Seq)
	b = put16(b, uint16(len(d)))
	return append(b, d...)
}

// Control and status bits of SOLControlsFromHost.
const (
	ControlRTS   uint8 = 1
	ControlDTR   uint8 = 2
	ControlBreak uint8 = 4

	StatusTxOverflow     uint8 = 1
	StatusLoopback       uint8 = 2
	StatusPower          uint8 = 4
	StatusRxFlushTimeout uint8 = 8
	StatusTestMode       uint8 = 16
)

// SOLControlsFromHost reports the host's serial lines (AMT → console, 10 bytes).
type SOLControlsFromHost struct {
	Seq     uint32
	Control uint8
	Status  uint8
}

func (*SOLControlsFromHost) Opcode() Opcode { return OpSOLControlsFromHost }

func (m *SOLControlsFromHost) Append(b []byte) []byte {
	b = solHead(b, OpSOLControlsFromHost, 0, m.Seq)
	return append(b, m.Control, m.Status)
}

func solHead(b []byte, op Opcode, status uint8, seq uint32) []byte {
	b = append(b, byte(op), status, 0, 0)
	return put32(b, seq)
}

func decodeSOL(b []byte, op Opcode) (Msg, int, error) {
	switch op {
	case OpStartSOL:
		if err := need(b, op, "settings", 24); err != nil {
			return nil, 0, err
		}
		return &StartSOL{Seq: le32(b[4:]), MaxTxBuffer: le16(b[8:]), TxTimeout: le16(b[10:]),
			TxOverflowTimeout: le16(b[12:]), RxTimeout: le16(b[14:]), RxFlushTimeout: le16(b[16:]),
			Heartbeat: le16(b[18:]), Reserved: le32(b[20:])}, 24, nil
	case OpStartSOLReply:
		if err := need(b, op, "reply data", 23); err != nil {
			return nil, 0, err
		}
		m := &StartSOLReply{Status: b[1]}
		copy(m.Data[:], b[4:23])
		return m, 23, nil
	case OpEndSOL, OpEndSOLReply, OpSOLPing, OpSOLPong, OpSOLHeartbeat:
		if err := need(b, op, "sequence number", 8); err != nil {
			return nil, 0, err
		}
		return &SOLSeqMsg{Op: op, Seq: le32(b[4:])}, 8, nil
	case OpSOLControlSettings:
		if err := need(b, op, "settings", 14); err != nil {
			return nil, 0, err
		}
		m := &SOLControlSettings{Seq: le32(b[4:])}
		copy(m.Settings[:], b[8:14])
		return m, 14, nil
	case OpSOLControlsFromHost:
		if err := need(b, op, "control", 10); err != nil {
			return nil, 0, err
		}
		return &SOLControlsFromHost{Seq: le32(b[4:]), Control: b[8], Status: b[9]}, 10, nil
	default: // OpSOLDataToHost, OpSOLDataFromHost
		if err := need(b, op, "data length", 10); err != nil {
			return nil, 0, err
		}
		n := 10 + int(le16(b[8:]))
		if err := need(b, op, "data", n); err != nil {
			return nil, 0, err
		}
		return &SOLData{Op: op, Seq: le32(b[4:]), Data: append([]byte{}, b[10:n]...)}, n, nil
	}
}
