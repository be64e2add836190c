import t from 'tap'
import { parseDuration } from '../../src/duration.js'

t.test('parses bare seconds and every unit', async t => {
  const cases: Array<[string, number]> = [
    ['90', 90_000], ['90s', 90_000], ['30m', 1_800_000], ['12h', 43_200_000], ['1d', 86_400_000],
    ['500ms', 500], ['0', 0], [' 5s ', 5_000], ['1.5s', 1_500], ['2 m', 120_000]
  ]
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text)
})

t.test('returns undefined for anything else', async t => {
  for (const text of ['', 'abc', '-5', '5x', '5 minutes', 's', '1e3', '5S', '1h30m', '.5s', 'Infinity']) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text))
  }
})
