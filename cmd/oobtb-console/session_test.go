package main

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("session, help-requests and accept", func() {
	It("check their flags and arguments before contacting a server", func() {
		_, _, err := run("", "session")
		Expect(err).To(MatchError(ContainSubstring("session needs exactly one device")))
		_, _, err = run("", "session", "--gateway", "GW-0001", "5e551011")
		Expect(err).To(MatchError(ContainSubstring("expected TYPE:VALUE")))
		_, _, err = run("", "session", "--fallback", "maybe", "5e551011")
		Expect(err).To(MatchError(ContainSubstring(`--fallback "maybe": expected none or classic`)))
		_, _, err = run("", "accept")
		Expect(err).To(MatchError(ContainSubstring("accept needs exactly one help request id")))
		_, _, err = run("", "session", "--stats", "xml", "5e551011")
		Expect(err).To(MatchError(ContainSubstring("expected text, json or none")))
	})
})
