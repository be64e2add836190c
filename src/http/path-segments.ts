/**
 * Path segments that let a client climb out of the prefix an upstream is mounted under (issue #15, item 11).
 *
 * The gateway forwards the path as it came, still encoded. An upstream, or a proxy or framework in front of it, may
 * decode it once more before resolving dot segments or splitting on slashes, so `%252e%252e` (`%2e%2e` after one
 * decode, `..` after two) reaches `/v1/../secret` there. A segment is refused when, as it came, decoded once or decoded
 * twice, it is `.` or `..` (also before a `;` path parameter, which Tomcat-style servers strip: `..;x`), or it holds a
 * slash or a backslash (which WHATWG URL parsers and many servers read as a slash), a NUL, or a %-escape that is
 * not valid UTF-8 (overlong forms such as `%c0%ae` that lenient decoders turn into a dot). A decoded segment with non-ASCII
 * characters is checked in its NFKC form too (`%ef%bc%8e` is a fullwidth dot, `．`, which NFKC makes `.`).
 *
 * Pure and synchronous: the proxy calls it for every request, so the common path (no `\`, no `/.`, and no `%` or only
 * escapes of plain ASCII such as `%20`) costs three `indexOf` and at most one regular-expression search, and allocates
 * nothing.
 */

const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g
/**
 * An escape of `.` `/` `%` `\` or NUL, or of a byte above ASCII (UTF-8, valid or not), or a `%` that starts no escape:
 * after one decode it is still a `%`, and the characters decoded after it may complete an escape (`%2%65` → `%2e`).
 */
const RISKY_ESCAPE = /%(?:2[eEfF5]|5[cC]|00|[89a-fA-F][0-9a-fA-F]|(?![0-9a-fA-F]{2}))/g
const HAS_ESCAPE = /%[0-9A-Fa-f]{2}/
const NON_ASCII = /[^\u0000-\u007f]/

/** Stands for a %-escape run that is not valid UTF-8; a decoded NUL is refused as well (a classic truncation trick). */
const UNDECODABLE = '\u0000'

/** True when the path of `url` (up to `?`) has a segment an upstream could read as a way up or across. */
export function isUnsafePath (url: string): boolean {
  const query = url.indexOf('?')
  const end = query === -1 ? url.length : query
  const percent = url.indexOf('%')
  const backslash = url.indexOf('\\')
  const dot = url.indexOf('/.')
  if ((backslash === -1 || backslash >= end) && (dot === -1 || dot >= end)) {
    if (percent === -1 || percent >= end) return false
    // Escapes of plain ASCII other than `.` `/` `\` `%` and NUL (`%20`, `%3A`, …) cannot make a segment unsafe.
    RISKY_ESCAPE.lastIndex = percent
    const risky = RISKY_ESCAPE.exec(url)
    if (risky === null || risky.index >= end) return false
  }
  let start = 0
  while (start < end) {
    let stop = url.indexOf('/', start)
    if (stop === -1 || stop > end) stop = end
    if (stop > start && isUnsafeSegment(url.slice(start, stop))) return true
    start = stop + 1
  }
  return false
}

/** One raw path segment (between two slashes, still %-encoded). */
export function isUnsafeSegment (raw: string): boolean {
  if (isDotSegment(raw) || raw.includes('\\')) return true
  if (raw.indexOf('%') === -1) return false
  const once = decodeOnce(raw)
  if (isUnsafeDecoded(once)) return true
  if (!HAS_ESCAPE.test(once)) return false
  return isUnsafeDecoded(decodeEscapes(once))
}

function isUnsafeDecoded (text: string): boolean {
  if (isDotSegment(text) || text.includes('/') || text.includes('\\') || text.includes(UNDECODABLE)) return true
  if (!NON_ASCII.test(text)) return false
  const folded = text.normalize('NFKC')
  return isDotSegment(folded) || folded.includes('/') || folded.includes('\\')
}

/** `.` or `..`, alone or before a `;` path parameter. */
function isDotSegment (text: string): boolean {
  const semicolon = text.indexOf(';')
  const name = semicolon === -1 ? text : text.slice(0, semicolon)
  return name === '.' || name === '..'
}

/** decodeURIComponent when the segment is well formed (nearly always), else run by run. */
function decodeOnce (raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return decodeEscapes(raw)
  }
}

/**
 * Decodes every run of %-escapes and leaves a lone `%` (a literal percent sign in a once-decoded segment, `100%`)
 * as it is; a run that is not UTF-8 becomes UNDECODABLE.
 */
function decodeEscapes (text: string): string {
  return text.replace(ESCAPE_RUN, run => {
    try {
      return decodeURIComponent(run)
    } catch {
      return UNDECODABLE
    }
  })
}
