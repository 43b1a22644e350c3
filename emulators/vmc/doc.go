// Package vmc is the virtual management controller: an emulated Intel AMT
// device. Device is the driver that ties the pure remote-access policy
// (package policy) to real CIRA tunnels (package cira) over an injected
// network and clock, routes the channels a server opens to the device's
// services by port (WS-MAN 16992, redirection 16994, VNC 5900), and carries
// the patent's additions: the gateway extension in PROTOCOL_VERSION,
// gateway-info once the server shows support, and gateway-connect, which
// opens an out-of-band CIRA connection to the edge gateway on the LAN.
package vmc
