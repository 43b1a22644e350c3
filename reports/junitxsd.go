package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// ValidateJUnit checks a document against the common JUnit XSD (the
// Jenkins/Ant schema, junit-10.xsd as Jenkins' xunit plugin ships it):
// testsuites? → testsuite+ → (properties?, testcase*, system-out?,
// system-err?); testsuite needs name and tests (failures, errors, skipped
// counts are non-negative integers, time a decimal, timestamp an ISO 8601
// date-time without zone); testcase needs name (classname, time optional),
// holds at most one of skipped/error/failure plus system-out/err; failure
// and error carry message/type attributes and text; property needs name and
// value. Unknown elements and attributes are errors, as with the XSD. The
// counts must add up to the testcases.
func ValidateJUnit(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var stack []string
	type suiteCount struct{ tests, failures, errors, skipped, cases, f, e, s int }
	var suite *suiteCount
	var caseChildren map[string]int
	allowed := map[string]map[string]bool{
		"":           {"testsuites": true, "testsuite": true},
		"testsuites": {"testsuite": true},
		"testsuite":  {"properties": true, "testcase": true, "system-out": true, "system-err": true},
		"properties": {"property": true},
		"property":   {},
		"testcase":   {"skipped": true, "error": true, "failure": true, "system-out": true, "system-err": true},
		"skipped":    {}, "error": {}, "failure": {}, "system-out": {}, "system-err": {},
	}
	attrs := map[string]struct{ required, optional []string }{
		"testsuites": {nil, []string{"name", "time", "tests", "failures", "errors", "skipped", "disabled"}},
		"testsuite":  {[]string{"name", "tests"}, []string{"failures", "errors", "skipped", "time", "timestamp", "hostname", "id", "package", "disabled"}},
		"property":   {[]string{"name", "value"}, nil},
		"testcase":   {[]string{"name"}, []string{"classname", "time", "assertions", "status"}},
		"failure":    {nil, []string{"message", "type"}},
		"error":      {nil, []string{"message", "type"}},
		"skipped":    {nil, []string{"message"}},
	}
	intAttr := map[string]bool{"tests": true, "failures": true, "errors": true, "skipped": true, "id": true, "disabled": true, "assertions": true}
	decimal := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	isoTime := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$`)
	rootSeen := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			} else if rootSeen {
				return fmt.Errorf("second root element <%s>", t.Name.Local)
			}
			rootSeen = true
			name := t.Name.Local
			if !allowed[parent][name] {
				return fmt.Errorf("<%s> not allowed inside <%s>", name, parent)
			}
			spec, hasSpec := attrs[name]
			got := map[string]string{}
			for _, a := range t.Attr {
				got[a.Name.Local] = a.Value
				if hasSpec && !contains(spec.required, a.Name.Local) && !contains(spec.optional, a.Name.Local) {
					return fmt.Errorf("<%s> has unknown attribute %s", name, a.Name.Local)
				}
				if !hasSpec {
					return fmt.Errorf("<%s> takes no attributes, has %s", name, a.Name.Local)
				}
				if intAttr[a.Name.Local] {
					if n, err := strconv.Atoi(a.Value); err != nil || n < 0 {
						return fmt.Errorf("<%s %s=%q>: expected a non-negative integer", name, a.Name.Local, a.Value)
					}
				}
				if a.Name.Local == "time" && !decimal.MatchString(a.Value) {
					return fmt.Errorf("<%s time=%q>: expected a decimal", name, a.Value)
				}
				if a.Name.Local == "timestamp" && !isoTime.MatchString(a.Value) {
					return fmt.Errorf("<%s timestamp=%q>: expected yyyy-mm-ddThh:mm:ss", name, a.Value)
				}
			}
			for _, r := range spec.required {
				if _, ok := got[r]; !ok {
					return fmt.Errorf("<%s> lacks required attribute %s", name, r)
				}
			}
			switch name {
			case "testsuite":
				n := func(k string) int { v, _ := strconv.Atoi(got[k]); return v }
				suite = &suiteCount{tests: n("tests"), failures: n("failures"), errors: n("errors"), skipped: n("skipped")}
			case "testcase":
				suite.cases++
				caseChildren = map[string]int{}
			case "failure", "error", "skipped":
				for _, k := range []string{"failure", "error", "skipped"} {
					if caseChildren[k] > 0 {
						return fmt.Errorf("<testcase> with both <%s> and <%s>", k, name)
					}
				}
				caseChildren[name]++
				switch name {
				case "failure":
					suite.f++
				case "error":
					suite.e++
				default:
					suite.s++
				}
			}
			stack = append(stack, name)
		case xml.EndElement:
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if name == "testsuite" {
				if suite.tests != suite.cases || suite.failures != suite.f || suite.errors != suite.e || suite.skipped != suite.s {
					return fmt.Errorf("testsuite counts tests=%d failures=%d errors=%d skipped=%d do not match its testcases (%d, %d, %d, %d)",
						suite.tests, suite.failures, suite.errors, suite.skipped, suite.cases, suite.f, suite.e, suite.s)
				}
			}
		case xml.CharData:
			if len(stack) > 0 {
				cur := stack[len(stack)-1]
				if !contains([]string{"failure", "error", "system-out", "system-err", "skipped"}, cur) && strings.TrimSpace(string(t)) != "" {
					return fmt.Errorf("text inside <%s>", cur)
				}
			}
		}
	}
	if !rootSeen {
		return fmt.Errorf("empty document")
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
