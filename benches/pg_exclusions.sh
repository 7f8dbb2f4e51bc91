#!/usr/bin/env bash
# A search with 31 exclusions on PostgreSQL (issue 44, item 6): the SQL shape the store used
# (one probe of the candidate's index row per excluded word) against the one it uses (the
# excluded words of each column one tsquery, `a | b | ...`, one probe per candidate), on
# 200,000 synthetic index rows, for a window of 400 and of 10,000 candidates (the widest).
#
#   bash benches/pg_exclusions.sh [postgres://postgres@127.0.0.1:5432/postgres]
set -euo pipefail
db=${1:-postgres://postgres@127.0.0.1:5432/postgres}
schema=bench_exclusions_$$
psql "$db" -q <<SQL
CREATE SCHEMA $schema; SET search_path=$schema;
CREATE TABLE article_search (rowid BIGINT PRIMARY KEY, story_id BIGINT NOT NULL,
  title tsvector NOT NULL, body tsvector NOT NULL);
INSERT INTO article_search SELECT i, i, to_tsvector('simple', 'needle story '||i),
  to_tsvector('simple', 'needle story common '||i||' '||(SELECT string_agg('w'||((i::bigint*j*7919) % 5000), ' ')
  FROM generate_series(1,100) j)) FROM generate_series(1,200000) i;
CREATE INDEX ON article_search USING GIN (title); CREATE INDEX ON article_search USING GIN (body);
ANALYZE article_search;
SQL
trap 'psql "$db" -q -c "DROP SCHEMA $schema CASCADE"' EXIT
# Thirty words found nowhere, and last one found everywhere: every probe runs.
words=$(for j in $(seq 0 29); do printf "absent%s " "$j"; done; echo common)
each=$(for w in $words; do printf "AND NOT EXISTS (SELECT 1 FROM article_search x WHERE x.rowid = h.id AND x.body @@ to_tsquery('simple', '''%s''')) " "$w"; done)
one="AND NOT EXISTS (SELECT 1 FROM article_search x WHERE x.rowid = h.id AND x.body @@ to_tsquery('simple', '$(for w in $words; do printf "''%s'' | " "$w"; done | sed 's/ | $//')'))"
echo "| candidates | a probe per excluded word | one probe | ratio |"
echo "|---|---|---|---|"
for window in 400 10000; do
  best() { # the best of five runs, in ms
    for _ in 1 2 3 4 5; do
      psql "$db" -q -c "SET search_path=$schema" -c '\timing on' -c "WITH h AS MATERIALIZED
        (SELECT s.rowid AS id FROM article_search s WHERE s.body @@ to_tsquery('simple', '''needle''')
         ORDER BY s.rowid DESC LIMIT $window) SELECT count(*) FROM h WHERE TRUE $1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
    done | sort -n | head -1
  }
  a=$(best "$each"); b=$(best "$one")
  echo "| $window | $a ms | $b ms | $(python3 -c "print(f'{$a/$b:.1f}x')") |"
done
