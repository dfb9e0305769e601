#!/usr/bin/env bash
# Syslog structured data through json_extract: the telco generator's RFC 5424
# lines carry [device@32473 entity_id=".." category=".."]; the syslog format
# renders the SD section as JSON text, and json_extract reaches the SD-ID with
# an '@' (quoted and bracketed path forms). Every row is compared with the SD
# parameters read from the raw lines by python3, and with the HOSTNAME that
# pipelines/telco.yaml uses as the entity (the two agree on generated data).
source "$(dirname "$0")/../lib.sh"
need python3
need sqlite3
"$SLUICE" gen telco --events 3000 --seed 5 --out "$TMP/in" 2>/dev/null
cat >"$TMP/p.yaml" <<YAML
pipeline: sd
sources:
  logs:
    type: dir
    path: $TMP/in/logs
    pattern: "*.log"
    format: syslog
tables:
  sd_rows:
    layer: silver
    from: logs
    steps:
      - derive:
          entity: "json_extract(structured_data, '\$.\"device@32473\".entity_id')"
          category: "json_extract(structured_data, '\$[''device@32473''][\"category\"]')"
          missing: "json_extract(structured_data, '\$.\"device@32473\".nope')"
YAML
"$SLUICE" run "$TMP/p.yaml" --data "$TMP/out" --once --status 0
sqlite3 -separator ' ' "$TMP/out/sluice.db" \
  "SELECT coalesce(entity, 'NULL'), coalesce(category, 'NULL'), coalesce(missing, 'NULL'), hostname FROM sd_rows WHERE pri IS NOT NULL AND coalesce(hostname, '') <> '' ORDER BY _source, _offset" >"$TMP/got.txt"
python3 - "$TMP/in/logs" >"$TMP/want.txt" <<'PY'
import glob, os, re, sys
sd = re.compile(r'\[device@32473 entity_id="([^"]*)" category="([^"]*)"\]')
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.log"))):
    for line in open(path, encoding="utf-8"):
        m = re.match(r"<(\d+)>1 \S+ (\S+) ", line)
        if not m or int(m.group(1)) > 191:
            continue  # malformed: quarantined, or a row without pri or host (left out above)
        s = sd.search(line)
        ent, cat = (s.group(1), s.group(2)) if s else ("NULL", "NULL")
        print(ent, cat, "NULL", m.group(2))
PY
rows=$(wc -l <"$TMP/got.txt")
[ "$rows" -gt 100 ] || fail "only $rows syslog rows"
cmp -s "$TMP/got.txt" "$TMP/want.txt" || { diff "$TMP/got.txt" "$TMP/want.txt" | head >&2; fail "json_extract over structured_data differs from the raw lines"; }
same=$(awk '$1 == $4' "$TMP/got.txt" | wc -l)
[ "$same" = "$rows" ] || fail "entity_id and hostname differ on $((rows - same)) of $rows rows"
ok "structured data: $rows rows, device@32473 entity_id and category reached by json_extract"
