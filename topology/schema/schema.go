// Package schema holds the JSON Schema of the topology YAML format, for
// editors (yaml-language-server) and for the example check in tests.
package schema

import _ "embed"

// JSON is topology.schema.json.
//
//go:embed topology.schema.json
var JSON []byte
