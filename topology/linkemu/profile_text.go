package linkemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The textual form of a Profile. In YAML or JSON it is a mapping:
//
//	base: wan-broadband        # optional named profile the other keys override
//	delay: 20ms
//	jitter: 5ms
//	jitter_dist: normal        # uniform (default) | normal
//	reorder: true
//	loss: 0.1%                 # or 0.001
//	ge: {p: 1%, r: 25%, loss_good: 0, loss_bad: 100%}
//	rate: 20Mbit
//	queue_bytes: 256KiB
//	queue_packets: 100
//	duplicate: 0.01%
//	corrupt: 0.01%
//	mtu: 1500
//
// A YAML or JSON string is read with ParseProfile, so `link: wan-3g` and
// `link: "wan-3g,loss=1%"` work too. ParseProfile takes the compact form
// "name,key=value,…" or "key=value,…" with the same keys (ge.p, ge.r,
// ge.loss_good, ge.loss_bad for the burst model).

var profileKeys = []string{
	"base", "delay", "jitter", "jitter_dist", "reorder", "loss", "ge.p", "ge.r", "ge.loss_good", "ge.loss_bad",
	"rate", "queue_bytes", "queue_packets", "duplicate", "corrupt", "mtu",
}

// setField applies one key=value to p. off is the value's byte offset in the
// input, for error messages.
func (p *Profile) setField(key, val string, off int) error {
	// Errors from the value parsers name the value kind; restate them
	// against the profile key and the position in the whole input.
	wrap := func(err error) error {
		if we, ok := err.(*wireErr); ok {
			we.Message = "profile"
			we.Field = key
			we.Offset += off
		}
		return err
	}
	var err error
	ge := func() *GilbertElliott {
		if p.GE == nil {
			p.GE = &GilbertElliott{LossBad: 1}
		}
		return p.GE
	}
	switch strings.ToLower(strings.TrimSpace(key)) {
	case "base":
		var b Profile
		if b, err = ProfileByName(val); err == nil {
			*p = b
		}
	case "delay":
		p.Delay, err = ParseDuration(val)
	case "jitter":
		p.Jitter, err = ParseDuration(val)
	case "jitter_dist":
		v := strings.ToLower(strings.TrimSpace(val))
		if v != "uniform" && v != "normal" {
			return parseErr("profile", key, off, `"uniform" or "normal"`, strconv.Quote(val))
		}
		p.JitterDist = v
	case "reorder":
		var b bool
		if b, err = strconv.ParseBool(strings.TrimSpace(val)); err != nil {
			return parseErr("profile", key, off, "true or false", strconv.Quote(val))
		}
		p.Reorder = b
	case "loss":
		p.Loss, err = ParsePercent(val)
	case "ge.p":
		ge().P, err = ParsePercent(val)
	case "ge.r":
		ge().R, err = ParsePercent(val)
	case "ge.loss_good":
		ge().LossGood, err = ParsePercent(val)
	case "ge.loss_bad":
		ge().LossBad, err = ParsePercent(val)
	case "rate":
		p.RateBps, err = ParseRate(val)
	case "queue_bytes":
		p.QueueBytes, err = ParseSize(val)
	case "queue_packets":
		p.QueuePackets, err = parseInt(key, val, maxQueuePackets)
	case "duplicate":
		p.Duplicate, err = ParsePercent(val)
	case "corrupt":
		p.Corrupt, err = ParsePercent(val)
	case "mtu":
		p.MTU, err = parseInt(key, val, MaxMTU)
	default:
		return parseErr("profile", "key", off, "one of "+strings.Join(profileKeys, ", "), strconv.Quote(key))
	}
	if err != nil {
		return wrap(err)
	}
	return nil
}

// ParseProfile reads the compact textual form: a named profile, a list of
// key=value pairs separated by commas (or spaces), or a name followed by
// overrides, e.g. "wan-broadband,loss=1%" or "delay=20ms rate=20Mbit".
func ParseProfile(s string) (Profile, error) {
	if len(s) > maxProfileLen {
		return Profile{}, parseErr("profile", "text", 0, fmt.Sprintf("at most %d characters", maxProfileLen), fmt.Sprintf("%d characters", len(s)))
	}
	type pair struct {
		k, v string
		off  int
	}
	var pairs []pair
	base := -1
	off := 0
	for off <= len(s) {
		end := strings.IndexAny(s[off:], ", \t\n")
		if end < 0 {
			end = len(s) - off
		}
		tok := s[off : off+end]
		if tok != "" {
			k, v, ok := strings.Cut(tok, "=")
			switch {
			case ok:
				pairs = append(pairs, pair{k, v, off + len(k) + 1})
			case len(pairs) == 0:
				pairs = append(pairs, pair{"base", tok, off})
			default:
				return Profile{}, parseErr("profile", "pair", off, "key=value (a profile name may only come first)", strconv.Quote(tok))
			}
			if strings.EqualFold(strings.TrimSpace(pairs[len(pairs)-1].k), "base") {
				base = len(pairs) - 1
			}
		}
		off += end + 1
	}
	// The base applies first wherever it is written, as in the mapping form.
	var p Profile
	if base >= 0 {
		if err := p.setField("base", pairs[base].v, pairs[base].off); err != nil {
			return Profile{}, err
		}
	}
	for i, kv := range pairs {
		if i == base {
			continue
		}
		if err := p.setField(kv.k, kv.v, kv.off); err != nil {
			return Profile{}, err
		}
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// fields returns the canonical textual key/value pairs of p, omitting zero
// values; ge keys are flattened.
func (p Profile) fields() [][2]string {
	var out [][2]string
	add := func(k, v string) { out = append(out, [2]string{k, v}) }
	if p.Delay != 0 {
		add("delay", p.Delay.String())
	}
	if p.Jitter != 0 {
		add("jitter", p.Jitter.String())
	}
	if p.JitterDist != "" {
		add("jitter_dist", p.JitterDist)
	}
	if p.Reorder {
		add("reorder", "true")
	}
	if p.Loss != 0 {
		add("loss", FormatPercent(p.Loss))
	}
	if p.GE != nil {
		add("ge.p", FormatPercent(p.GE.P))
		add("ge.r", FormatPercent(p.GE.R))
		add("ge.loss_good", FormatPercent(p.GE.LossGood))
		add("ge.loss_bad", FormatPercent(p.GE.LossBad))
	}
	if p.RateBps != 0 {
		add("rate", FormatRate(p.RateBps))
	}
	if p.QueueBytes != 0 {
		add("queue_bytes", FormatSize(p.QueueBytes))
	}
	if p.QueuePackets != 0 {
		add("queue_packets", strconv.Itoa(p.QueuePackets))
	}
	if p.Duplicate != 0 {
		add("duplicate", FormatPercent(p.Duplicate))
	}
	if p.Corrupt != 0 {
		add("corrupt", FormatPercent(p.Corrupt))
	}
	if p.MTU != 0 {
		add("mtu", strconv.Itoa(p.MTU))
	}
	return out
}

// String is the compact form; ParseProfile(p.String()) gives p back.
func (p Profile) String() string {
	f := p.fields()
	if len(f) == 0 {
		return "none"
	}
	parts := make([]string, len(f))
	for i, kv := range f {
		parts[i] = kv[0] + "=" + kv[1]
	}
	return strings.Join(parts, ",")
}

// textMap is the mapping form before interpretation: key → value text, with
// "ge" flattened to ge.* keys.
type textMap struct {
	keys []string
	vals map[string]string
}

func (m *textMap) set(k, v string) {
	if m.vals == nil {
		m.vals = map[string]string{}
	}
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *textMap) profile() (Profile, error) {
	var p Profile
	if b, ok := m.vals["base"]; ok {
		if err := p.setField("base", b, 0); err != nil {
			return Profile{}, err
		}
	}
	for _, k := range m.keys {
		if k == "base" {
			continue
		}
		if err := p.setField(k, m.vals[k], 0); err != nil {
			return Profile{}, err
		}
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// UnmarshalYAML accepts the mapping form or a string in the compact form.
func (p *Profile) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		q, err := ParseProfile(n.Value)
		if err != nil {
			return atLine(err, n)
		}
		*p = q
		return nil
	case yaml.MappingNode:
	default:
		return parseErr("profile", "yaml", 0, "a mapping or a profile string", fmt.Sprintf("YAML node kind %d at line %d", n.Kind, n.Line))
	}
	var m textMap
	if err := yamlPairs(&m, n, ""); err != nil {
		return err
	}
	q, err := m.profile()
	if err != nil {
		return atLine(err, n)
	}
	*p = q
	return nil
}

func atLine(err error, n *yaml.Node) error {
	if we, ok := err.(*wireErr); ok {
		we.Message = fmt.Sprintf("profile (YAML line %d)", n.Line)
	}
	return err
}

func yamlPairs(m *textMap, n *yaml.Node, prefix string) error {
	if len(n.Content) > 2*len(profileKeys) {
		return parseErr("profile", "yaml", 0, fmt.Sprintf("at most %d keys", len(profileKeys)), fmt.Sprintf("%d keys at line %d", len(n.Content)/2, n.Line))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := prefix + strings.ToLower(k.Value)
		switch {
		case key == "ge" && v.Kind == yaml.MappingNode:
			if err := yamlPairs(m, v, "ge."); err != nil {
				return err
			}
		case v.Kind == yaml.ScalarNode:
			m.set(key, v.Value)
		default:
			return parseErr(fmt.Sprintf("profile (YAML line %d)", v.Line), key, 0, "a scalar value", fmt.Sprintf("YAML node kind %d", v.Kind))
		}
	}
	return nil
}

// MarshalYAML writes the mapping form with canonical strings.
func (p Profile) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	var ge *yaml.Node
	for _, kv := range p.fields() {
		if g, ok := strings.CutPrefix(kv[0], "ge."); ok {
			if ge == nil {
				ge = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "ge"}, ge)
			}
			ge.Content = append(ge.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: g}, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[1]})
			continue
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]}, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[1]})
	}
	return n, nil
}

// UnmarshalJSON accepts the mapping form (values as strings, numbers or
// booleans) or a string in the compact form.
func (p *Profile) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > maxProfileLen {
		return parseErr("profile", "json", 0, fmt.Sprintf("at most %d bytes", maxProfileLen), fmt.Sprintf("%d bytes", len(b)))
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return parseErr("profile", "json", 0, "a JSON string or object", err.Error())
		}
		q, err := ParseProfile(s)
		if err != nil {
			return err
		}
		*p = q
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return parseErr("profile", "json", 0, "a JSON string or object", err.Error())
	}
	var m textMap
	if err := jsonPairs(&m, raw, ""); err != nil {
		return err
	}
	q, err := m.profile()
	if err != nil {
		return err
	}
	*p = q
	return nil
}

func jsonPairs(m *textMap, raw map[string]json.RawMessage, prefix string) error {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order is random; errors should not be
	for _, k := range keys {
		v := bytes.TrimSpace(raw[k])
		key := prefix + strings.ToLower(k)
		switch {
		case key == "ge" && len(v) > 0 && v[0] == '{':
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(v, &sub); err != nil {
				return parseErr("profile", key, 0, "a JSON object", err.Error())
			}
			if err := jsonPairs(m, sub, "ge."); err != nil {
				return err
			}
		case string(v) == "null":
			// An explicit null leaves the field at its default.
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return parseErr("profile", key, 0, "a JSON string", err.Error())
			}
			m.set(key, s)
		case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9' || v[0] == 't' || v[0] == 'f'):
			m.set(key, string(v))
		default:
			return parseErr("profile", key, 0, "a string, number or boolean", string(v))
		}
	}
	return nil
}

// MarshalJSON writes the mapping form with canonical strings.
func (p Profile) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	inGE := false
	first := true
	for _, kv := range p.fields() {
		g, isGE := strings.CutPrefix(kv[0], "ge.")
		if inGE && !isGE {
			buf.WriteByte('}')
			inGE = false
		}
		if !first && !(isGE && inGE) {
			buf.WriteByte(',')
		}
		first = false
		k := kv[0]
		if isGE {
			if !inGE {
				buf.WriteString(`"ge":{`)
				inGE = true
			} else {
				buf.WriteByte(',')
			}
			k = g
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(kv[1])
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	if inGE {
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
