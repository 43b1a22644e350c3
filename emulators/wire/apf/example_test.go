package apf_test

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// A server-side reader: feed what Read returned, drain with Next, and queue
// the reply layout for every global request the session itself sends.
func ExampleFramer() {
	f := apf.NewFramer(apf.FramerOptions{})
	var in []byte
	in = (&apf.TCPIPForward{WantReply: true, Address: "amt.local", Port: apf.PortWSMAN}).Append(in)
	in = (&apf.ChannelData{Recipient: 4, Data: []byte("HTTP/1.1 200 OK\r\n")}).Append(in)
	in = (&apf.KeepaliveRequest{Cookie: 255}).Append(in)

	for _, chunk := range [][]byte{in[:10], in[10:]} { // two reads
		if err := f.Feed(chunk); err != nil {
			panic(err)
		}
		for {
			msg, err := f.Next()
			if err != nil {
				panic(err) // send DISCONNECT(protocol error) and close
			}
			if msg == nil {
				break // need more bytes
			}
			switch m := msg.(type) {
			case *apf.TCPIPForward:
				fmt.Println("bind", m.Port, "reply with", m.ReplyKind())
			case *apf.ChannelData:
				fmt.Printf("channel %d: %q\n", m.Recipient, m.Data) // valid until the next Feed
			default:
				fmt.Println(msg.Type())
			}
		}
	}
	// Output:
	// bind 16992 reply with with-port
	// channel 4: "HTTP/1.1 200 OK\r\n"
	// KEEPALIVE_REQUEST
}
