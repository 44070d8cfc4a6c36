// Independent Parquet readers and writer for the interop test (hyparquet, DuckDB).
//
//   node pq_check.mjs dump-hyparquet FILE   canonical dump through hyparquet, and a check of
//                                           every chunk's statistics against its values
//   node pq_check.mjs dump-duckdb FILE      canonical dump through DuckDB
//   node pq_check.mjs write-duckdb DIR      files in many encodings and codecs, written by DuckDB
//   node pq_check.mjs write-hyparquet DIR   v2 data pages in every encoding, by hyparquet-writer
//
// The dump format is the one sao_parquet_tool prints: "rows N", "kv KEY HEX", then per column
// "column NAME TYPE" and one line per value: null | f:<IEEE bits in hex> | integer | s:<hex bytes>.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const out = []
const emit = (line) => out.push(line)
const flush = () => writeFileSync(1, out.length ? out.join('\n') + '\n' : '')

function hex(bytes) {
  return Buffer.from(bytes.buffer ?? bytes, bytes.byteOffset ?? 0, bytes.byteLength ?? bytes.length).toString('hex')
}

function doubleBits(x) {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x, true)
  return 'f:' + view.getBigUint64(0, true).toString(16).padStart(16, '0')
}

// The reader's type for a schema element, from the Parquet spec (not from our code).
function saoType(el) {
  const logical = el.logical_type?.type
  switch (el.type) {
    case 'BOOLEAN': return 'BOOL'
    case 'INT32': return logical === 'DATE' || el.converted_type === 'DATE' ? 'DATE' : 'INT32'
    case 'INT64':
      if (logical === 'TIMESTAMP') return { MILLIS: 'TIMESTAMP_MS', MICROS: 'TIMESTAMP_US', NANOS: 'TIMESTAMP_NS' }[el.logical_type.unit]
      if (el.converted_type === 'TIMESTAMP_MILLIS') return 'TIMESTAMP_MS'
      if (el.converted_type === 'TIMESTAMP_MICROS') return 'TIMESTAMP_US'
      return 'INT64'
    case 'INT96': return 'TIMESTAMP_NS'
    case 'FLOAT': return 'FLOAT'
    case 'DOUBLE': return 'DOUBLE'
    case 'BYTE_ARRAY':
      return ['STRING', 'ENUM', 'JSON'].includes(logical) || ['UTF8', 'ENUM', 'JSON'].includes(el.converted_type) ? 'STRING' : 'BINARY'
    case 'FIXED_LEN_BYTE_ARRAY': return 'BINARY'
  }
  throw new Error(`unexpected type ${el.type}`)
}

function formatValue(type, v) {
  if (v === null || v === undefined) return 'null'
  switch (type) {
    case 'DOUBLE': case 'FLOAT': return doubleBits(Number(v))
    case 'BOOL': return v ? '1' : '0'
    case 'STRING': case 'BINARY': return 's:' + hex(typeof v === 'string' ? Buffer.from(v, 'utf8') : v)
    default: return BigInt(v).toString()
  }
}

const raw = {
  timestampFromMilliseconds: (v) => v,
  timestampFromMicroseconds: (v) => v,
  timestampFromNanoseconds: (v) => v,
  dateFromDays: (v) => v,
  stringFromBytes: (b) => b,
}

// Signed order for numbers, unsigned byte order for strings; NaN never counts.
function compare(type, a, b) {
  if (type === 'STRING' || type === 'BINARY') return Buffer.compare(Buffer.from(a), Buffer.from(b))
  return a < b ? -1 : a > b ? 1 : 0
}

async function dumpHyparquet(path) {
  const { parquetMetadataAsync, parquetReadObjects, asyncBufferFromFile } = await import('hyparquet')
  const { compressors } = await import('hyparquet-compressors')
  const file = await asyncBufferFromFile(path)
  const md = await parquetMetadataAsync(file, { parsers: raw })
  const rows = await parquetReadObjects({ file, compressors, parsers: raw, utf8: false })
  const leaves = md.schema.slice(1)
  emit(`rows ${md.num_rows}`)
  for (const kv of md.key_value_metadata ?? [])
    emit(`kv ${kv.key} ${kv.value === undefined ? '-' : Buffer.from(kv.value, 'utf8').toString('hex')}`)
  const types = leaves.map(saoType)
  leaves.forEach((el, c) => {
    emit(`column ${el.name} ${types[c]}`)
    for (const row of rows) emit(formatValue(types[c], row[el.name]))
  })
  // Statistics of our own files: recompute each chunk's null count, min and max from the values
  // read. (Other writers may legitimately truncate string bounds.)
  let start = 0
  const problems = []
  const ours = (md.created_by ?? '').startsWith('stock-agent-ops ')
  for (const [g, rg] of ours ? md.row_groups.entries() : []) {
    const n = Number(rg.num_rows)
    leaves.forEach((el, c) => {
      const stats = rg.columns[c].meta_data.statistics
      if (!stats) return
      let nulls = 0, lo, hi
      for (let r = start; r < start + n; r++) {
        const v = rows[r][el.name]
        if (v === null || v === undefined) { nulls++; continue }
        if (typeof v === 'number' && Number.isNaN(v)) continue
        if (lo === undefined || compare(types[c], v, lo) < 0) lo = v
        if (hi === undefined || compare(types[c], v, hi) > 0) hi = v
      }
      const where = `row group ${g} column ${el.name}`
      if (stats.null_count !== undefined && Number(stats.null_count) !== nulls)
        problems.push(`${where}: null_count ${stats.null_count} != ${nulls}`)
      if (stats.min_value === undefined && lo === undefined) return
      const show = (v) => formatValue(types[c], v)
      // -0 and +0 compare equal; the spec asks writers for -0 as min and +0 as max.
      if (show(stats.min_value) !== show(lo) && !(lo === 0 && Object.is(stats.min_value, -0)))
        problems.push(`${where}: min_value ${show(stats.min_value)} != ${show(lo)}`)
      if (show(stats.max_value) !== show(hi) && !(hi === 0 && Object.is(stats.max_value, 0)))
        problems.push(`${where}: max_value ${show(stats.max_value)} != ${show(hi)}`)
    })
    start += n
  }
  for (const p of problems) process.stderr.write(`statistics: ${p}\n`)
  flush()
  if (problems.length) process.exit(3)
}

// Our type from DuckDB's view of the Parquet schema (parquet_schema()).
function duckSchemaType(type, converted, logical) {
  logical = logical ?? ''
  const unit = /MILLIS=MilliSeconds/.test(logical) ? 'MILLIS' : /MICROS=MicroSeconds/.test(logical) ? 'MICROS'
    : /NANOS=NanoSeconds/.test(logical) ? 'NANOS' : undefined
  const el = {
    type, converted_type: converted ?? undefined,
    logical_type: logical.startsWith('TimestampType') ? { type: 'TIMESTAMP', unit }
      : logical.startsWith('DateType') ? { type: 'DATE' }
      : logical.startsWith('StringType') ? { type: 'STRING' } : undefined,
  }
  return saoType(el)
}

// DuckDB hands timestamps over in its own unit (milliseconds become microseconds).
function duckValue(type, v) {
  if (v === null || v === undefined || typeof v !== 'object') return v
  if ('micros' in v) return type === 'TIMESTAMP_MS' ? v.micros / 1000n : v.micros
  if ('nanos' in v) return v.nanos
  if ('millis' in v) return v.millis
  if ('days' in v) return v.days
  if ('bytes' in v) return v.bytes
  throw new Error(`unexpected DuckDB value ${v.constructor?.name}`)
}

async function duck() {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' })
  return instance.connect()
}

const quote = (s) => `'${s.replaceAll("'", "''")}'`

async function dumpDuckdb(path) {
  const con = await duck()
  const count = await con.runAndReadAll(`select count(*) from read_parquet(${quote(path)})`)
  emit(`rows ${count.getRows()[0][0]}`)
  const kv = await con.runAndReadAll(`select key, value from parquet_kv_metadata(${quote(path)})`)
  for (const [key, value] of kv.getRows())
    emit(`kv ${Buffer.from(key.bytes).toString('utf8')} ${value === null ? '-' : hex(value.bytes)}`)
  const schema = await con.runAndReadAll(
    `select type, converted_type, logical_type from parquet_schema(${quote(path)}) where type is not null`)
  const types = schema.getRows().map(([type, converted, logical]) => duckSchemaType(type, converted, logical))
  const result = await con.runAndReadAll(`select * from read_parquet(${quote(path)})`)
  const columns = result.getColumns()
  result.columnNames().forEach((name, c) => {
    emit(`column ${name} ${types[c]}`)
    for (const v of columns[c] ?? []) emit(formatValue(types[c], duckValue(types[c], v)))
  })
  flush()
}

// Tables that make DuckDB use every encoding it has (PLAIN, RLE_DICTIONARY, DELTA_BINARY_PACKED,
// DELTA_LENGTH_BYTE_ARRAY, BYTE_STREAM_SPLIT, RLE booleans), both data page versions, and
// every codec we read.
async function writeDuckdb(dir) {
  const con = await duck()
  const table = `select
      i::integer as i32,
      (i * 1000000007 - 5000000000)::bigint as i64,
      (i / 7.0)::float as f32,
      case when i % 4 = 0 then null else i / 3.0 end::double as f64,
      i % 3 = 0 as flag,
      case when i % 5 = 0 then null else 'prefix_common_' || (i * 7919 % 1000)::varchar end as s,
      ['AAPL', 'MSFT', '^GSPC', '', 'caf' || chr(233)][i % 5 + 1] as ticker,
      date '2000-01-01' + i::integer as day,
      (timestamp '2001-01-01' + i * interval 1 second)::timestamp_ms as ts_ms,
      timestamp '2001-01-01' + i * interval 1001 microsecond as ts_us,
      (timestamp '2001-01-01' + i * interval 1 second)::timestamp_ns + i * interval 3 microsecond as ts_ns,
      case when i % 7 = 0 then null else ('\\xAA\\x00\\x01'::blob || i::varchar::blob) end as bin,
      case when i % 2 = 0 then null else i end::bigint as sparse
    from range(5000) t(i)`
  const variants = [
    ['v1_uncompressed', "compression 'uncompressed'"],
    ['v1_snappy', "compression 'snappy'"],
    ['v1_gzip', "compression 'gzip'"],
    ['v1_zstd', "compression 'zstd', row_group_size 2048"],
    ['v2_uncompressed', "compression 'uncompressed', parquet_version v2"],
    ['v2_snappy', "compression 'snappy', parquet_version v2, row_group_size 2048"],
    ['v2_gzip', "compression 'gzip', parquet_version v2"],
    ['v2_zstd', "compression 'zstd', parquet_version v2"],
  ]
  for (const [name, options] of variants)
    await con.run(`copy (${table}) to ${quote(join(dir, `duckdb_${name}.parquet`))} (format parquet, ${options})`)
}

// hyparquet-writer writes DATA_PAGE_V2 pages and lets each column pick its encoding, which
// covers what DuckDB does not write: v2 pages, DELTA_BYTE_ARRAY, RLE booleans, fixed-length
// byte arrays, dictionaries whose indices take 0 bits.
async function writeHyparquet(dir) {
  const { parquetWriteFile } = await import('hyparquet-writer')
  const rows = 5000
  const col = (f) => Array.from({ length: rows }, (_, i) => f(i))
  const i32Extremes = [-2147483648, 2147483647, 0, -1]
  const i64Extremes = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]
  const words = ['axis', 'axle', 'babble', 'babyhood', '', 'caf\u00e9', '\u65e5\u672c\u8a9e']
  const columnData = [
    { name: 'i32', encoding: 'DELTA_BINARY_PACKED',
      data: col((i) => (i % 17 === 0 ? i32Extremes[(i / 17) % 4] : i % 5 === 0 ? null : i * 3 - 999)) },
    { name: 'i64', encoding: 'DELTA_BINARY_PACKED',
      data: col((i) => (i % 19 === 0 ? i64Extremes[(i / 19) % 4] : BigInt(i) * 1000000007n)) },
    { name: 'f32', encoding: 'BYTE_STREAM_SPLIT', data: col((i) => Math.fround(i / 7)) },
    { name: 'f64', encoding: 'BYTE_STREAM_SPLIT',
      data: col((i) => (i % 3 === 0 ? null : i % 11 === 0 ? -0 : i / 3 - 500)) },
    { name: 'flag', encoding: 'RLE', data: col((i) => (i % 6 === 0 ? null : i % 4 < 2)) },
    { name: 'prefixed', encoding: 'DELTA_BYTE_ARRAY',
      data: col((i) => (i % 9 === 0 ? null : words[i % words.length] + '/' + Math.floor(i / 3))) },
    { name: 'lengths', encoding: 'DELTA_LENGTH_BYTE_ARRAY',
      data: col((i) => (i % 8 === 0 ? null : words[(i * 3) % words.length].repeat(i % 4))) },
    { name: 'dict', data: col((i) => (i < 1500 ? 'AAPL' : ['AAPL', 'MSFT', '^GSPC'][i % 3])) },
    { name: 'day', data: col((i) => 10957 + i) },
    { name: 'ts', data: col((i) => (i % 10 === 0 ? null : new Date(978307200000 + i * 1001))) },
    { name: 'fixed', encoding: 'BYTE_STREAM_SPLIT',
      data: col((i) => new Uint8Array([i & 255, i >> 8, 7, 255 - (i & 255)])) },
  ]
  const schema = [
    { name: 'root', num_children: columnData.length },
    { name: 'i32', type: 'INT32', repetition_type: 'OPTIONAL' },
    { name: 'i64', type: 'INT64', repetition_type: 'REQUIRED' },
    { name: 'f32', type: 'FLOAT', repetition_type: 'REQUIRED' },
    { name: 'f64', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    { name: 'flag', type: 'BOOLEAN', repetition_type: 'OPTIONAL' },
    { name: 'prefixed', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'lengths', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'dict', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    { name: 'day', type: 'INT32', converted_type: 'DATE', repetition_type: 'REQUIRED' },
    { name: 'ts', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'OPTIONAL' },
    { name: 'fixed', type: 'FIXED_LEN_BYTE_ARRAY', type_length: 4, repetition_type: 'REQUIRED' },
  ]
  for (const codec of ['UNCOMPRESSED', 'SNAPPY']) {
    parquetWriteFile({
      filename: join(dir, `hyparquet_v2_${codec.toLowerCase()}.parquet`),
      columnData, schema, codec, rowGroupSize: [1000, 3000], pageSize: 4096,
      kvMetadata: [{ key: 'writer', value: 'hyparquet-writer' }],
    })
  }
}

const [command, arg] = process.argv.slice(2)
if (command === 'dump-hyparquet') await dumpHyparquet(arg)
else if (command === 'dump-duckdb') await dumpDuckdb(arg)
else if (command === 'write-duckdb') await writeDuckdb(arg)
else if (command === 'write-hyparquet') await writeHyparquet(arg)
else {
  process.stderr.write('usage: pq_check.mjs dump-hyparquet|dump-duckdb FILE | write-duckdb|write-hyparquet DIR\n')
  process.exit(2)
}
