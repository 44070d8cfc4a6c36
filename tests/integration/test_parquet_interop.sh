#!/usr/bin/env bash
# Interop of our Parquet codec with independent implementations. Files our writer makes are read
# by hyparquet and DuckDB; files DuckDB, hyparquet-writer and pyarrow wrote are read by us. Every
# reader prints the same canonical dump (exact IEEE bits, integers, string bytes) and the dumps
# must be identical. hyparquet also checks the statistics of our files against their values.
#
# The readers are npm packages installed with `npm ci` into $SAO_BUILD_DIR/node_tools from the
# lock file in tests/integration/node. Exit 77 (skip) when they cannot be installed.
set -euo pipefail

SKIP=77
: "${SAO_BUILD_DIR:?set by CTest}"
: "${SAO_SOURCE_DIR:?set by CTest}"
tool=${SAO_PARQUET_TOOL:-$SAO_BUILD_DIR/tests/integration/sao_parquet_tool}
shared=${SAO_SHARED_DIR:-${SAO_DEFAULT_SHARED_DIR:-}}
node_src=$SAO_SOURCE_DIR/tests/integration/node
node_dir=$SAO_BUILD_DIR/node_tools

if [[ ! -x $tool ]]; then
    echo "FAIL: $tool is not built" >&2
    exit 1
fi
for cmd in node npm; do
    if ! command -v "$cmd" >/dev/null; then
        echo "SKIP: $cmd is not installed" >&2
        exit $SKIP
    fi
done

# (Re)install when the committed lock file changed since the last install.
if ! cmp -s "$node_src/package-lock.json" "$node_dir/package-lock.json" ||
    [[ ! -d $node_dir/node_modules/hyparquet ]]; then
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp "$node_src/package.json" "$node_src/package-lock.json" "$node_dir/"
    if ! npm ci --prefix "$node_dir" --no-audit --no-fund >"$node_dir/npm-ci.log" 2>&1; then
        echo "SKIP: npm ci could not install the independent readers (offline?):" >&2
        tail -n 5 "$node_dir/npm-ci.log" >&2
        rm -rf "$node_dir"
        exit $SKIP
    fi
fi
# The script resolves its imports from the folder it lives in.
cp "$node_src/pq_check.mjs" "$node_dir/"
check="node $node_dir/pq_check.mjs"

work=$(mktemp -d "${TMPDIR:-/tmp}/sao-parquet-interop.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

# same LABEL REFERENCE_DUMP OTHER_DUMP
same() {
    if cmp -s "$2" "$3"; then
        echo "ok   $1 ($(wc -l <"$2") lines)"
    else
        echo "FAIL $1: dumps differ" >&2
        diff "$2" "$3" | head -n 10 >&2 || true
        failures=$((failures + 1))
    fi
}

# dump READER FILE OUT: READER is ours, hyparquet or duckdb.
dump() {
    local status=0
    case $1 in
    ours) "$tool" dump "$2" >"$3" || status=$? ;;
    hyparquet) $check dump-hyparquet "$2" >"$3" || status=$? ;;
    duckdb) $check dump-duckdb "$2" >"$3" || status=$? ;;
    esac
    if ((status != 0)); then
        echo "FAIL $1 could not read $(basename "$2") (exit $status)" >&2
        failures=$((failures + 1))
        : >"$3"
    fi
}

echo "# our writer -> hyparquet, DuckDB"
# name: tool arguments. One row group with the unique strings past the 1 MiB dictionary limit
# (PLAIN fallback); many small row groups and pages; an empty file; a single row.
variants=(
    "big:--rows 20000"
    "paged:--rows 5000 --row-group-rows 1200 --page-rows 333"
    "empty:--rows 0"
    "one:--rows 1"
)
for codec in none snappy gzip zstd; do
    for variant in "${variants[@]}"; do
        name=${variant%%:*}
        read -r -a args <<<"${variant#*:}"
        file=$work/ours_${codec}_$name.parquet
        "$tool" sample "$file" --codec "$codec" "${args[@]}"
        dump ours "$file" "$work/a.txt"
        dump hyparquet "$file" "$work/b.txt"
        dump duckdb "$file" "$work/c.txt"
        same "ours_${codec}_$name: hyparquet" "$work/b.txt" "$work/a.txt"
        same "ours_${codec}_$name: duckdb" "$work/c.txt" "$work/a.txt"
    done
done

echo "# DuckDB's writer -> our reader"
mkdir -p "$work/duckdb"
$check write-duckdb "$work/duckdb"
for file in "$work"/duckdb/*.parquet; do
    dump duckdb "$file" "$work/c.txt"
    dump hyparquet "$file" "$work/b.txt"
    dump ours "$file" "$work/a.txt"
    same "$(basename "$file"): duckdb" "$work/c.txt" "$work/a.txt"
    same "$(basename "$file"): hyparquet" "$work/b.txt" "$work/a.txt"
done

echo "# hyparquet-writer (v2 pages, delta and split encodings) -> our reader"
mkdir -p "$work/hyparquet"
$check write-hyparquet "$work/hyparquet"
for file in "$work"/hyparquet/*.parquet; do
    # DuckDB reads no BYTE_STREAM_SPLIT fixed-length arrays, so hyparquet is the reference here.
    dump hyparquet "$file" "$work/b.txt"
    dump ours "$file" "$work/a.txt"
    same "$(basename "$file"): hyparquet" "$work/b.txt" "$work/a.txt"
done

pyarrow_file=$shared/data/parquet/features_4tickers_pyarrow.parquet
if [[ -n $shared && -f $pyarrow_file ]]; then
    echo "# pyarrow's writer -> our reader"
    dump hyparquet "$pyarrow_file" "$work/b.txt"
    dump duckdb "$pyarrow_file" "$work/c.txt"
    dump ours "$pyarrow_file" "$work/a.txt"
    same "pyarrow features: hyparquet" "$work/b.txt" "$work/a.txt"
    same "pyarrow features: duckdb" "$work/c.txt" "$work/a.txt"
else
    echo "note: no shared pyarrow file, that check is left out"
fi

if ((failures)); then
    echo "$failures interop check(s) failed" >&2
    exit 1
fi
echo "all Parquet interop checks passed"
