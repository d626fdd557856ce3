-- Text typed before input was normalised is stored in NFC like new text, so that lookups by
-- name (usage by charge name) and comparisons (a usage's unit with its charge's) find it. A
-- charge whose NFC name another charge of its subscription already has keeps its bytes:
-- renaming one of the two is the operator's call. (normalize() needs a UTF8 database.)
DO $$
BEGIN
  IF current_setting('server_encoding') = 'UTF8' THEN
    UPDATE charges c SET name = normalize(c.name, NFC)
     WHERE c.name IS NOT NFC NORMALIZED
       AND NOT EXISTS (SELECT 1 FROM charges d
                        WHERE d.subscription_id = c.subscription_id AND d.id <> c.id
                          AND normalize(d.name, NFC) = normalize(c.name, NFC));
    UPDATE charges SET unit_of_measure = normalize(unit_of_measure, NFC) WHERE unit_of_measure IS NOT NFC NORMALIZED;
    UPDATE usage_records SET unit_of_measure = normalize(unit_of_measure, NFC) WHERE unit_of_measure IS NOT NFC NORMALIZED;
    UPDATE accounts SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED;
    UPDATE users SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED;
    UPDATE api_tokens SET label = normalize(label, NFC) WHERE label IS NOT NFC NORMALIZED;
  END IF;
END $$;
