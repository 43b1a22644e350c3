// Package schema holds the JSON Schema of the scenario YAML format, for
// editors (yaml-language-server: `# yaml-language-server: $schema=...`) and
// for the catalogue check in the tests. The inline topology refers to the
// topology format's schema (topology/schema).
package schema

import _ "embed"

// JSON is scenario.schema.json.
//
//go:embed scenario.schema.json
var JSON []byte
