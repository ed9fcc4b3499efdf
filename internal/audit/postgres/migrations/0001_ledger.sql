-- The ledger's tables, as the SQLite store keeps them (internal/audit/sqlstore
-- reads and writes both with the same statements).
CREATE TABLE records (
	seq         bigint PRIMARY KEY,
	time        bigint NOT NULL,  -- Unix nanoseconds: the index keeps the body's time to the nanosecond
	event       text NOT NULL,
	application text NOT NULL,
	author      text NOT NULL DEFAULT '',
	body        bytea NOT NULL    -- canonical JSON, exactly what the chain hashes
);
CREATE INDEX records_app ON records (application, seq);
CREATE INDEX records_time ON records (time);

CREATE TABLE record_objects (
	-- The order the rows were written in, under the name SQLite gives it.
	rowid     bigint GENERATED ALWAYS AS IDENTITY,
	-- A record renumbered by hand takes its index along; Verify finds both.
	seq       bigint NOT NULL REFERENCES records (seq) ON DELETE CASCADE ON UPDATE CASCADE,
	grp       text NOT NULL,
	kind      text NOT NULL,
	namespace text NOT NULL,
	name      text NOT NULL
);
CREATE INDEX record_objects_object ON record_objects (kind, namespace, name, grp, seq);
CREATE INDEX record_objects_seq ON record_objects (seq);

CREATE TABLE checkpoints (
	kind       text PRIMARY KEY,  -- head | cut
	seq        bigint NOT NULL,
	hash       text NOT NULL,
	time       bigint NOT NULL,
	public_key text NOT NULL,
	signature  text NOT NULL
);
