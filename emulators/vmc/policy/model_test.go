package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

var _ = Describe("ExtendedData", func() {
	It("decodes the reference example AAAAAAAAABk= as every 25 s", func() {
		s, err := policy.DecodeExtendedData("AAAAAAAAABk=")
		Expect(err).NotTo(HaveOccurred())
		Expect(s).To(Equal(policy.Schedule{Kind: policy.ScheduleInterval, Interval: 25 * time.Second}))
		Expect(policy.EncodeExtendedData(s)).To(Equal("AAAAAAAAABk="))
		Expect(policy.IntervalData(25 * time.Second)).To(Equal("AAAAAAAAABk="))
	})

	It("decodes and re-encodes the daily form", func() {
		// u32 1, u32 23, u32 5
		s, err := policy.DecodeExtendedData("AAAAAQAAABcAAAAF")
		Expect(err).NotTo(HaveOccurred())
		Expect(s).To(Equal(policy.Schedule{Kind: policy.ScheduleDaily, Hour: 23, Minute: 5}))
		Expect(s.String()).To(Equal("daily at 23:05 UTC"))
		Expect(policy.EncodeExtendedData(s)).To(Equal("AAAAAQAAABcAAAAF"))
	})

	It("accepts zero padding up to 32 bytes", func() {
		_, err := policy.DecodeExtendedData("AAAAAAAAABkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
		Expect(err).NotTo(HaveOccurred())
	})

	DescribeTable("rejects bad input with a wireerr naming the field",
		func(in, field string, short bool) {
			_, err := policy.DecodeExtendedData(in)
			var we *wireerr.Error
			Expect(errors.As(err, &we)).To(BeTrue(), "%v", err)
			Expect(we.Field).To(Equal(field))
			Expect(we.Message).To(Equal("AMT_RemoteAccessPolicyRule.ExtendedData"))
			Expect(errors.Is(err, wireerr.ErrShort)).To(Equal(short))
		},
		Entry("empty", "", "form", true),
		Entry("not base64", "!!!!", "base64 text", false),
		Entry("interval cut short", "AAAAAA==", "interval seconds", true),
		Entry("daily cut short", "AAAAAQAAABc=", "daily hour and minute", true),
		Entry("zero interval", "AAAAAAAAAAA=", "interval seconds", false),
		Entry("unknown form 2", "AAAAAgAAABk=", "form", false),
		Entry("hour 24", "AAAAAQAAABgAAAAA", "hour", false),
		Entry("minute 60", "AAAAAQAAAAAAAAA8", "minute", false),
		Entry("non-zero padding", "AAAAAAAAABkB", "padding", false),
		Entry("longer than 32 bytes", strings.Repeat("A", 48), "base64 text", false),
	)
})

var _ = Describe("Configuration", func() {
	It("builds a valid RPS default: periodic 25 s lifetime 0, user-initiated 300, MpsType 2, order 0", func() {
		c := policy.DefaultRPS("198.18.0.10", "admin01", "secret", "6f1c1e9e-0000-4000-8000-000000000001.com")
		Expect(c.Validate()).To(Succeed())
		Expect(c.MPS[0].InfoFormat).To(Equal(policy.InfoIPv4))
		Expect(c.MPS[0].CN).To(Equal("198.18.0.10"))
		Expect(c.Rules).To(ConsistOf(
			policy.Rule{Name: "Periodic 1", Trigger: policy.TriggerPeriodic, ExtendedData: "AAAAAAAAABk="},
			policy.Rule{Name: "User Initiated 2", Trigger: policy.TriggerUser, TunnelLifeTime: 300},
		))
		for _, a := range c.Applies {
			Expect(a.MpsType).To(Equal(policy.MpsBoth))
			Expect(a.OrderOfAccess).To(BeZero())
		}
		Expect(c.UIC).To(Equal(policy.UICBoth))
	})

	It("builds a valid MeshCentral default: FQDN MPS, periodic every 10 s", func() {
		c := policy.DefaultMeshCentral("mesh.example.com", "abcdefghijklmnop", "pw", "0a1b2c3d4e5f")
		Expect(c.Validate()).To(Succeed())
		Expect(c.MPS[0].InfoFormat).To(Equal(policy.InfoFQDN))
		s, err := policy.DecodeExtendedData(c.Rules[0].ExtendedData)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Interval).To(Equal(10 * time.Second))
	})

	It("adds a gateway as an internal MPS (reference §4.4) and stays valid", func() {
		c := policy.DefaultRPS("198.18.0.10", "admin01", "secret", "x.com").WithGatewayMPS("198.18.1.1", 4433, "lan.example")
		Expect(c.Validate()).To(Succeed())
		Expect(c.MPS).To(HaveLen(2))
		Expect(c.Environment.DetectionStrings[0]).To(Equal("lan.example"))
	})

	type mod func(*policy.Config)
	DescribeTable("reports clear validation errors",
		func(m mod, class, field, got string) {
			c := twoMPSConfig()
			m(&c)
			err := c.Validate()
			Expect(err).To(HaveOccurred())
			var ve *policy.ValidationError
			Expect(errors.As(err, &ve)).To(BeTrue())
			Expect(ve.Class).To(Equal(class))
			Expect(ve.Field).To(Equal(field))
			Expect(err.Error()).To(ContainSubstring(got))
			_, err = policy.New(c, nil)
			Expect(err).To(HaveOccurred())
		},
		Entry("a 7th MPS", mod(func(c *policy.Config) {
			for i := 4; i <= 7; i++ {
				c.MPS = append(c.MPS, mps(i, fmt.Sprintf("198.18.0.%d", 20+i)))
			}
		}), "AMT_ManagementPresenceRemoteSAP", "count", "the 7th is one too many"),
		Entry("username over 16 characters", mod(func(c *policy.Config) { c.MPS[0].Username = "abcdefghijklmnopq" }),
			"AMT_ManagementPresenceRemoteSAP", "Username", `"abcdefghijklmnopq"`),
		Entry("non-alphanumeric username", mod(func(c *policy.Config) { c.MPS[0].Username = "dev-01" }),
			"AMT_ManagementPresenceRemoteSAP", "Username", "alphanumeric"),
		Entry("password over 16 characters", mod(func(c *policy.Config) { c.MPS[0].Password = strings.Repeat("x", 17) }),
			"AMT_ManagementPresenceRemoteSAP", "Password", "17 characters"),
		Entry("IPv4 format with a name", mod(func(c *policy.Config) { c.MPS[0].AccessInfo = "mps.example" }),
			"AMT_ManagementPresenceRemoteSAP", "AccessInfo", "IPv4"),
		Entry("unknown InfoFormat", mod(func(c *policy.Config) { c.MPS[0].InfoFormat = 5 }),
			"AMT_ManagementPresenceRemoteSAP", "InfoFormat", "got 5"),
		Entry("port 0", mod(func(c *policy.Config) { c.MPS[0].Port = 0 }),
			"AMT_ManagementPresenceRemoteSAP", "Port", "got 0"),
		Entry("two policies with the same trigger", mod(func(c *policy.Config) {
			c.Rules = append(c.Rules, policy.Rule{Name: "Periodic 9", Trigger: policy.TriggerPeriodic, ExtendedData: "AAAAAAAAABk="})
			c.Applies = append(c.Applies, policy.AppliesTo{Rule: "Periodic 9", MPS: c.MPS[0].Name})
		}), "AMT_RemoteAccessPolicyRule", "Trigger", `already used by "Periodic 1"`),
		Entry("a periodic policy without a schedule", mod(func(c *policy.Config) { c.Rules[0].ExtendedData = "" }),
			"AMT_RemoteAccessPolicyRule", "ExtendedData", "form"),
		Entry("a schedule on a user policy", mod(func(c *policy.Config) { c.Rules[1].ExtendedData = "AAAAAAAAABk=" }),
			"AMT_RemoteAccessPolicyRule", "ExtendedData", "only periodic"),
		Entry("a policy with no MPS", mod(func(c *policy.Config) { c.Applies = c.Applies[:3] }),
			"AMT_RemoteAccessPolicyRule", "MpServer", "none"),
		Entry("an association to an unknown MPS", mod(func(c *policy.Config) { c.Applies[3].MPS = "nope" }),
			"AMT_RemoteAccessPolicyAppliesToMPS", "ManagedElement", `"nope"`),
		Entry("OrderOfAccess 2", mod(func(c *policy.Config) { c.Applies[1].OrderOfAccess = 2 }),
			"AMT_RemoteAccessPolicyAppliesToMPS", "OrderOfAccess", "got 2"),
		Entry("two primaries for the same environment", mod(func(c *policy.Config) { c.Applies[1].OrderOfAccess = 0 }),
			"AMT_RemoteAccessPolicyAppliesToMPS", "OrderOfAccess", "also used by"),
		Entry("MpsType 3", mod(func(c *policy.Config) { c.Applies[0].MpsType = 3 }),
			"AMT_RemoteAccessPolicyAppliesToMPS", "MpsType", "got 3"),
		Entry("policies without environment detection", mod(func(c *policy.Config) { c.Environment.DetectionStrings = nil }),
			"AMT_EnvironmentDetectionSettingData", "DetectionStrings", "requires environment detection"),
		Entry("a detection string of 64 characters", mod(func(c *policy.Config) {
			c.Environment.DetectionStrings = []string{strings.Repeat("a", 64)}
		}), "AMT_EnvironmentDetectionSettingData", "DetectionStrings", "aaaa"),
		Entry("a bad UIC state", mod(func(c *policy.Config) { c.UIC = 2 }),
			"AMT_UserInitiatedConnectionService", "EnabledState", "got 2"),
		Entry("a bad back-off", mod(func(c *policy.Config) { c.Backoff.Multiplier = 0.5 }),
			"vMC", "Backoff", "Multiplier"),
	)

	It("reports every problem at once", func() {
		c := twoMPSConfig()
		c.MPS[0].Port = 0
		c.MPS[1].Username = "x y"
		err := c.Validate()
		Expect(err.Error()).To(ContainSubstring("Port"))
		Expect(err.Error()).To(ContainSubstring("Username"))
	})
})
