-- Numbers are zero-padded to eight digits, and keep growing past them: lpad alone cuts
-- 100000000 to "10000000", a number already given out.
CREATE FUNCTION billrun_number(prefix text, n bigint) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT prefix || lpad(n::text, greatest(8, length(n::text)), '0') $$;

ALTER TABLE "accounts" ALTER COLUMN "account_number" SET DEFAULT billrun_number('A-', nextval('account_number_seq'::regclass));
ALTER TABLE "subscriptions" ALTER COLUMN "subscription_number" SET DEFAULT billrun_number('S-', nextval('subscription_number_seq'::regclass));
ALTER TABLE "bill_runs" ALTER COLUMN "bill_run_number" SET DEFAULT billrun_number('BR-', nextval('bill_run_number_seq'::regclass));
