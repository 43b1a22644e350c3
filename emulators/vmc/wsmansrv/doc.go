// Package wsmansrv is the vMC's WS-MAN server: the HTTP service Intel AMT
// offers on port 16992, carried inside APF channels (reference §1.9).
//
// One Server serves every channel of one device. Each channel is read as a
// stream of pipelined HTTP requests, answered strictly in order. Requests are
// authenticated with HTTP digest exactly as AMT does it: the first request
// without credentials gets AMT's 401 page and the channel is closed; clients
// then keep one nonce across channels with an increasing nc (8-hex or
// MeshCentral's decimal form), with or without qop, until the nonce expires
// and a fresh 401 with stale="true" hands out another. The nonce table, the
// enumeration contexts, the response message-id counter and the clock offset
// set by SetHighAccuracyTimeSynch belong to the Server, so they are shared by
// all channels of the device.
//
// Responses have AMT's shape: 200 or 400 with chunked bodies and AMT's
// headers, RelatesTo echoing the request's MessageID text. The classes of
// reference §3.2–3.4 and §4.1 are served with values taken from the host
// (identity, settings, power), the remote-access policy configuration
// (Options.Policy / Options.SetPolicy) and the injected clock;
// docs/wsman-classes.md lists every class, its operations and the source of
// every value. Anything else answers 400 DestinationUnreachable.
package wsmansrv
