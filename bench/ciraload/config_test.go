package ciraload_test

import (
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/bench/ciraload"
)

var _ = Describe("device identities", func() {
	It("numbers UUIDs from the base, carrying across the 64-bit halves", func() {
		Expect(ciraload.UUIDAdd(ciraload.DefaultUUIDBase, 0)).To(Equal(ciraload.DefaultUUIDBase))
		Expect(ciraload.UUIDAdd("b0000000-0000-4000-8000-000000000000", 0x4a3f)).To(Equal("b0000000-0000-4000-8000-000000004a3f"))
		Expect(ciraload.UUIDAdd("00000000-0000-0000-ffff-ffffffffffff", 1)).To(Equal("00000000-0000-0001-0000-000000000000"))
		_, err := ciraload.UUIDAdd("not-a-uuid", 1)
		Expect(err).To(HaveOccurred())
	})

	It("expands {n} and {uuid} in the patterns", func() {
		cfg := ciraload.Config{UUIDBase: "12345678-0000-4000-8000-000000000000", UserPattern: "u{n}", PassPattern: "p-{uuid}-{n}"}
		d, err := cfg.Device(7)
		Expect(err).NotTo(HaveOccurred())
		Expect(d).To(Equal(ciraload.Credential{UUID: "12345678-0000-4000-8000-000000000007", User: "u7",
			Password: "p-12345678-0000-4000-8000-000000000007-7"}))
		d, err = (&ciraload.Config{}).Device(3)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.User).To(Equal("bench3"))
		Expect(d.Password).To(Equal("bench-secret-3"))
	})

	It("reads a credentials file and names the bad line", func() {
		creds, err := ciraload.ReadCredentials(strings.NewReader("# uuid,user,password\n\n" +
			"b0000000-0000-4000-8000-000000000001,dev1,pw,with,commas\n b0000000-0000-4000-8000-000000000002 ,dev2,pw2\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(creds).To(Equal([]ciraload.Credential{
			{UUID: "b0000000-0000-4000-8000-000000000001", User: "dev1", Password: "pw,with,commas"},
			{UUID: "b0000000-0000-4000-8000-000000000002", User: "dev2", Password: "pw2"}}))

		_, err = ciraload.ReadCredentials(strings.NewReader("b0000000-0000-4000-8000-000000000001,dev1,pw\nonly,two\n"))
		Expect(err).To(MatchError(ContainSubstring("credentials line 2: expected uuid,user,password")))
		_, err = ciraload.ReadCredentials(strings.NewReader("xyz,dev1,pw\n"))
		Expect(err).To(MatchError(ContainSubstring("credentials line 1")))
		_, err = ciraload.ReadCredentials(strings.NewReader("# nothing\n"))
		Expect(err).To(MatchError(ContainSubstring("no device lines")))
	})
})

var _ = Describe("process figures", func() {
	It("reads this process's RSS and CPU time", func() {
		rss, err := ciraload.ProcRSS(os.Getpid())
		Expect(err).NotTo(HaveOccurred())
		Expect(rss).To(BeNumerically(">", 1000))
		_, err = ciraload.ProcCPU(os.Getpid())
		Expect(err).NotTo(HaveOccurred())
	})

	It("says which process is missing", func() {
		_, err := ciraload.ProcRSS(1 << 30)
		Expect(err).To(MatchError(ContainSubstring("server process 1073741824")))
		_, err = ciraload.ProcCPU(1 << 30)
		Expect(err).To(MatchError(ContainSubstring("server process 1073741824")))
	})
})
