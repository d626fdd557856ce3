-- Items written in the transaction that inserted their documents (a bill run's chunk writes its
-- documents, then their items) need no lock on those documents: until that transaction commits,
-- no other can see the rows, so none can delete them or change their ids. Locking them wrote a
-- lock and a WAL record on each of a chunk's thousand documents for nothing. Documents written by
-- other transactions, or by a subtransaction (their rows carry its own transaction id), are
-- locked FOR KEY SHARE as before; a document that does not exist still refuses the statement.
CREATE OR REPLACE FUNCTION "document_items_check_documents"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named UUID[];
  own INT;
  others INT := 0;
BEGIN
  -- DISTINCT in a subquery: hashed, where array_agg(DISTINCT …) sorts the statement's rows.
  SELECT array_agg("document_id") INTO named FROM (SELECT DISTINCT "document_id" FROM "new_items") AS d;
  IF named IS NULL THEN RETURN NULL; END IF;
  -- `= ANY(array)`: read through the primary key, whatever the planner guesses of the transition table.
  SELECT count(*) INTO own FROM "documents" WHERE "id" = ANY(named) AND "xmin" = xid(pg_current_xact_id());
  IF own < cardinality(named) THEN
    SELECT count(*) INTO others
      FROM (SELECT 1 FROM "documents" WHERE "id" = ANY(named) AND "xmin" <> xid(pg_current_xact_id()) FOR KEY SHARE) AS locked;
  END IF;
  IF own + others <> cardinality(named) THEN
    RAISE EXCEPTION 'document items name % documents that do not exist', cardinality(named) - own - others
      USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  RETURN NULL;
END $$;
