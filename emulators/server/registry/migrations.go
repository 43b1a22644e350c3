package registry

// migration is one numbered schema step. Steps are append-only: never edit
// a released one, add a new one. Each runs in its own transaction together
// with its schema_migrations row, so a crash leaves the schema at a whole
// version.
type migration struct {
	version int
	name    string
	stmts   []string
}

var migrations = []migration{
	{1, "devices", []string{
		`CREATE TABLE devices (
			uuid             TEXT PRIMARY KEY,
			cira_user        TEXT NOT NULL,
			cira_pass_hash   TEXT NOT NULL,
			amt_user         TEXT NOT NULL,
			amt_pass_sealed  BLOB NOT NULL,
			state            TEXT NOT NULL DEFAULT 'enrolled',
			last_seen        INTEGER NOT NULL DEFAULT 0,
			last_trigger     TEXT NOT NULL DEFAULT '',
			last_trigger_at  INTEGER NOT NULL DEFAULT 0,
			bound_ports      TEXT NOT NULL DEFAULT '[]',
			failover_raw     BLOB,
			failover_summary TEXT NOT NULL DEFAULT '',
			gateway_ids      TEXT NOT NULL DEFAULT '[]',
			conn_path        TEXT NOT NULL DEFAULT '',
			via_gateway      TEXT NOT NULL DEFAULT '',
			remote_addr      TEXT NOT NULL DEFAULT '',
			connected_at     INTEGER NOT NULL DEFAULT 0,
			created_at       INTEGER NOT NULL,
			updated_at       INTEGER NOT NULL
		)`,
		`CREATE INDEX devices_state ON devices(state)`,
		`CREATE INDEX devices_via_gateway ON devices(via_gateway) WHERE via_gateway <> ''`,
	}},
	{2, "audit log", []string{
		`CREATE TABLE audit_log (
			id      INTEGER PRIMARY KEY AUTOINCREMENT,
			time    INTEGER NOT NULL,
			actor   TEXT NOT NULL,
			action  TEXT NOT NULL,
			subject TEXT NOT NULL,
			outcome TEXT NOT NULL,
			reason  TEXT NOT NULL DEFAULT '',
			details TEXT NOT NULL DEFAULT '{}'
		)`,
		`CREATE INDEX audit_subject_time ON audit_log(subject, time)`,
		`CREATE INDEX audit_time ON audit_log(time)`,
		`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
			BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
			BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	}},
	{3, "gateways and identifiers", []string{
		`CREATE TABLE gateways (
			id               TEXT PRIMARY KEY,
			enrol_token_hash BLOB,
			enrolled         INTEGER NOT NULL DEFAULT 0,
			public_key       BLOB,
			wan_endpoints    TEXT NOT NULL DEFAULT '[]',
			lan_domain       TEXT NOT NULL DEFAULT '',
			lan_prefixes     TEXT NOT NULL DEFAULT '[]',
			online           INTEGER NOT NULL DEFAULT 0,
			last_heartbeat   INTEGER NOT NULL DEFAULT 0,
			created_at       INTEGER NOT NULL,
			updated_at       INTEGER NOT NULL
		)`,
		`CREATE TABLE gateway_identifiers (
			gateway_id TEXT NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
			type       TEXT NOT NULL,
			value      TEXT NOT NULL,
			PRIMARY KEY (gateway_id, type, value)
		)`,
		// Lookup by any identifier type is one probe of this index.
		`CREATE INDEX gateway_identifiers_lookup ON gateway_identifiers(type, value)`,
	}},
	{4, "pairings and one-time tokens", []string{
		`CREATE TABLE pairings (
			session_id  TEXT PRIMARY KEY,
			device_uuid TEXT NOT NULL,
			gateway_id  TEXT NOT NULL DEFAULT '',
			console_id  TEXT NOT NULL,
			expires_at  INTEGER NOT NULL,
			gateway_pub BLOB,
			console_pub BLOB,
			state       TEXT NOT NULL,
			path        TEXT NOT NULL,
			reason      TEXT NOT NULL DEFAULT '',
			outcome     TEXT NOT NULL DEFAULT '',
			created_at  INTEGER NOT NULL,
			updated_at  INTEGER NOT NULL
		)`,
		`CREATE INDEX pairings_device ON pairings(device_uuid, created_at)`,
		`CREATE INDEX pairings_gateway ON pairings(gateway_id, created_at)`,
		`CREATE INDEX pairings_state_expiry ON pairings(state, expires_at)`,
		`CREATE TABLE pairing_tokens (
			token_hash BLOB PRIMARY KEY,
			session_id TEXT NOT NULL REFERENCES pairings(session_id) ON DELETE CASCADE,
			role       TEXT NOT NULL,
			used_at    INTEGER NOT NULL DEFAULT 0,
			UNIQUE (session_id, role)
		)`,
	}},
	{5, "help requests", []string{
		`CREATE TABLE help_requests (
			id          TEXT PRIMARY KEY,
			device_uuid TEXT NOT NULL,
			message     TEXT NOT NULL DEFAULT '',
			state       TEXT NOT NULL,
			created_at  INTEGER NOT NULL,
			expires_at  INTEGER NOT NULL,
			accepted_at INTEGER NOT NULL DEFAULT 0,
			accepted_by TEXT NOT NULL DEFAULT '',
			session_id  TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX help_state ON help_requests(state, created_at)`,
		// At most one open request per device: a user pressing the help
		// button twice does not queue two.
		`CREATE UNIQUE INDEX help_one_open_per_device ON help_requests(device_uuid) WHERE state = 'open'`,
	}},
}

// LatestSchemaVersion is the version Open migrates to by default.
var LatestSchemaVersion = migrations[len(migrations)-1].version
