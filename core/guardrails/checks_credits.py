"""The Debounce credits check: the balance as last read against what the next verification runs
will spend (contacts waiting to be filtered, at the filter's past pass rate, and contacts
filtered and waiting to be verified, across every client). Agency-wide; silent until a balance
has been read (a verification through Debounce or a balance check)."""

DEBOUNCE_CREDITS_LOW = """
WITH b AS (SELECT balance, checked_at FROM debounce_balance WHERE id = 1),
rate AS (
    SELECT coalesce(sum(output_count)::DOUBLE / nullif(sum(input_count), 0), 0.8) AS r
    FROM pipeline_stage_runs WHERE stage = 'filter' AND status = 'succeeded' AND input_count > 0
),
waiting AS (
    SELECT count(*) FILTER (WHERE status = 'raw') AS raw,
           count(*) FILTER (WHERE status = 'filtered') AS filtered
    FROM contacts WHERE status IN ('raw', 'filtered')
),
need AS (SELECT CAST(round(raw * r) + filtered AS BIGINT) AS n, raw, filtered, r FROM waiting, rate)
SELECT CAST(NULL AS INTEGER) AS workspace_id, 'warning' AS severity, 'debounce' AS subject_kind,
       'debounce' AS subject_id, 'Debounce credits' AS subject_name,
       printf('Debounce credits will not cover the next runs: %,d left, about %,d needed',
              b.balance, need.n) AS title,
       printf('Debounce had %,d credits on %s. The next verification runs need about %,d: '
              || '%,d contacts filtered and waiting, and %,d not yet filtered of which about '
              || '%.0f%% pass the filters (past runs). Each address checked costs one credit; '
              || 'buy credits before the runs stop half-way.',
              b.balance, strftime(b.checked_at, '%b %-d %H:%M UTC'), need.n, need.filtered,
              need.raw, 100 * need.r) AS explanation,
       CAST(b.balance AS DOUBLE) AS metric, CAST(need.n AS DOUBLE) AS threshold
FROM b, need WHERE b.balance < need.n
"""
