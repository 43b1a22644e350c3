package wsmansrv_test

import (
	"io"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// MeshCentral's first WS-MAN request on a channel, byte for byte
// [MC-WSCOMM sendRequest, MC-WSMAN]: no Authorization, Host = node id and
// port, no Content-Type, default SOAP namespace with a/w prefixes.
const meshGetGeneralSettings = `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>0</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60.000S</w:OperationTimeout></Header><Body></Body></Envelope>`

var meshFirstRequest = "POST /wsman HTTP/1.1\r\n" +
	"Host: node-k5Vw0yYx9d8PfV2h7XoJ2Q:16992\r\n" +
	"Content-Length: " + strconv.Itoa(len(meshGetGeneralSettings)) + "\r\n" +
	"\r\n" + meshGetGeneralSettings

// The full response to that Get on the device of newEnv, written by hand
// from reference §1.9 (headers, chunking) and §3.1/§3.4 (envelope, values).
const goldenGeneralSettingsBody = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
	`<a:Header>` +
	`<b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To>` +
	`<b:RelatesTo>0</b:RelatesTo>` +
	`<b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action>` +
	`<b:MessageID>uuid:00000000-8086-8086-8086-000000000001</b:MessageID>` +
	`<c:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</c:ResourceURI>` +
	`</a:Header>` +
	`<a:Body><g:AMT_GeneralSettings>` +
	`<g:AMTNetworkEnabled>1</g:AMTNetworkEnabled>` +
	`<g:DDNSPeriodicUpdateInterval>1440</g:DDNSPeriodicUpdateInterval>` +
	`<g:DDNSTTL>900</g:DDNSTTL>` +
	`<g:DDNSUpdateByDHCPServerEnabled>true</g:DDNSUpdateByDHCPServerEnabled>` +
	`<g:DDNSUpdateEnabled>false</g:DDNSUpdateEnabled>` +
	`<g:DHCPv6ConfigurationTimeout>0</g:DHCPv6ConfigurationTimeout>` +
	`<g:DigestRealm>Digest:0123456789ABCDEF0123456789ABCDEF</g:DigestRealm>` +
	`<g:DomainName>lan.example</g:DomainName>` +
	`<g:ElementName>Intel(r) AMT: General Settings</g:ElementName>` +
	`<g:HostName>vmc1</g:HostName>` +
	`<g:HostOSFQDN>vmc1.lan.example</g:HostOSFQDN>` +
	`<g:IdleWakeTimeout>65535</g:IdleWakeTimeout>` +
	`<g:InstanceID>Intel(r) AMT: General Settings</g:InstanceID>` +
	`<g:NetworkInterfaceEnabled>true</g:NetworkInterfaceEnabled>` +
	`<g:PingResponseEnabled>true</g:PingResponseEnabled>` +
	`<g:PowerSource>0</g:PowerSource>` +
	`<g:PreferredAddressFamily>0</g:PreferredAddressFamily>` +
	`<g:PresenceNotificationInterval>0</g:PresenceNotificationInterval>` +
	`<g:PrivacyLevel>0</g:PrivacyLevel>` +
	`<g:RmcpPingResponseEnabled>true</g:RmcpPingResponseEnabled>` +
	`<g:SharedFQDN>true</g:SharedFQDN>` +
	`<g:ThunderboltDockEnabled>0</g:ThunderboltDockEnabled>` +
	`<g:WsmanOnlyMode>false</g:WsmanOnlyMode>` +
	`</g:AMT_GeneralSettings></a:Body></a:Envelope>`

const goldenGeneralSettingsResponse = "HTTP/1.1 200 OK\r\n" +
	"Date: Fri, 04 Dec 2026 21:00:00 GMT\r\n" +
	"Server: Intel(R) Active Management Technology 16.1.27.2225\r\n" +
	"X-Frame-Options: DENY\r\n" +
	"Content-Type: application/soap+xml; charset=UTF-8\r\n" +
	"Transfer-Encoding: chunked\r\n" +
	"\r\n" +
	"0873\r\n" + goldenGeneralSettingsBody + "\r\n" +
	"0\r\n\r\n"

var _ = Describe("golden Get response", func() {
	It("answers MeshCentral's Get AMT_GeneralSettings byte for byte as AMT would", func() {
		Expect(len(goldenGeneralSettingsBody)).To(Equal(0x873), "the chunk size written above")
		e := newEnv(nil)
		defer e.close()
		s := e.login(false)
		c := e.dial()
		c.send(httpReq(s.auth(), []byte(meshGetGeneralSettings)))
		raw := make([]byte, len(goldenGeneralSettingsResponse))
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadFull(c.conn, raw)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).To(Equal(goldenGeneralSettingsResponse))
		Expect(c.hangUp()).To(Succeed())
	})
})
