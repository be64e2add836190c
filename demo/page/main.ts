/**
 * The demo page: sign in (with a second factor when the IdP wants one), watch the session and the access token's
 * expiry (and its refreshes), call the API through the gateway, sign out. Bundled by routes/demo-page.ts with esbuild
 * at startup; runs in the browser.
 *
 * `document.body.dataset.state` (`loading`, `signed-out`, `mfa`, `signed-in`), `#message[data-code]`,
 * `#token-countdown[data-expires-at]`, `#refresh-note[data-count]`, `#mfa-card[data-step]` (`choose`, `otp`,
 * `binding_code`, `recovery_code`, `push`), `#mfa-push[data-polls]` / `[data-interval]` and `#recovery-card` are
 * stable hooks for the browser tests.
 */
import {
  ApiError, authenticatorsOf, currentSession, echo, login, logout, mfaChallenge, mfaVerify,
  type Authenticator, type EchoView, type LoginView, type MfaProof, type SessionView
} from './api.js'
import { explain } from './messages.js'

/** Re-read the session at least this often, and never more often than MIN (ms). */
const MAX_CHECK_INTERVAL_MS = 30_000
const MIN_CHECK_INTERVAL_MS = 1000
/** Ask just after the token's expiry, when the gateway refreshes it before answering. */
const AFTER_EXPIRY_MS = 300
const RETRY_AFTER_ERROR_MS = 5000

function element<T extends HTMLElement> (id: string, type: new () => T): T {
  const found = document.getElementById(id)
  if (!(found instanceof type)) throw new Error(`demo page: #${id} is missing`)
  return found
}

const ui = {
  status: element('status', HTMLElement),
  message: element('message', HTMLDivElement),
  loginCard: element('login-card', HTMLElement),
  loginForm: element('login-form', HTMLFormElement),
  loginButton: element('login-button', HTMLButtonElement),
  username: element('username', HTMLInputElement),
  password: element('password', HTMLInputElement),
  realm: element('realm', HTMLInputElement),
  mfaCard: element('mfa-card', HTMLElement),
  mfaBack: element('mfa-back', HTMLButtonElement),
  mfaOther: element('mfa-other', HTMLButtonElement),
  mfaChoose: element('mfa-choose', HTMLDivElement),
  mfaAuthenticators: element('mfa-authenticators', HTMLUListElement),
  mfaCodeForm: element('mfa-code-form', HTMLFormElement),
  mfaCodeCaption: element('mfa-code-caption', HTMLParagraphElement),
  mfaCodeLabel: element('mfa-code-label', HTMLSpanElement),
  mfaCode: element('mfa-code', HTMLInputElement),
  mfaSubmit: element('mfa-submit', HTMLButtonElement),
  mfaPush: element('mfa-push', HTMLDivElement),
  mfaPushTarget: element('mfa-push-target', HTMLElement),
  mfaPushNext: element('mfa-push-next', HTMLSpanElement),
  mfaCancel: element('mfa-cancel', HTMLButtonElement),
  recoveryCard: element('recovery-card', HTMLElement),
  recoveryCode: element('recovery-code', HTMLElement),
  recoveryDone: element('recovery-done', HTMLButtonElement),
  sessionCard: element('session-card', HTMLElement),
  avatar: element('avatar', HTMLDivElement),
  userName: element('user-name', HTMLDivElement),
  userEmail: element('user-email', HTMLDivElement),
  userSub: element('user-sub', HTMLElement),
  scope: element('scope', HTMLElement),
  tokenCountdown: element('token-countdown', HTMLSpanElement),
  tokenExpiry: element('token-expiry', HTMLSpanElement),
  sessionCountdown: element('session-countdown', HTMLSpanElement),
  sessionExpiry: element('session-expiry', HTMLSpanElement),
  refreshToken: element('refresh-token', HTMLElement),
  documentCookie: element('document-cookie', HTMLElement),
  refreshNote: element('refresh-note', HTMLParagraphElement),
  apiCard: element('api-card', HTMLElement),
  callApi: element('call-api', HTMLButtonElement),
  postApi: element('post-api', HTMLButtonElement),
  apiResult: element('api-result', HTMLDivElement),
  apiRequest: element('api-request', HTMLElement),
  apiBearer: element('api-bearer', HTMLElement),
  apiBearerExpiry: element('api-bearer-expiry', HTMLElement),
  apiCookies: element('api-cookies', HTMLElement),
  apiRaw: element('api-raw', HTMLPreElement),
  logoutCard: element('logout-card', HTMLElement),
  logout: element('logout', HTMLButtonElement)
}

type PageState = 'loading' | 'signed-out' | 'mfa' | 'signed-in'

let session: SessionView | null = null
let refreshCount = 0
let checkTimer: number | undefined

// ---- Messages ----

function showError (err: unknown): void {
  const code = err instanceof ApiError ? err.code : 'unexpected_response'
  const retryAfter = err instanceof ApiError ? err.retryAfter : undefined
  const { title, text, kind } = explain(code, retryAfter)
  showMessage(kind, title, text, code)
}

function showMessage (kind: 'error' | 'warn' | 'info', title: string, text: string, code?: string): void {
  const heading = document.createElement('strong')
  heading.textContent = title
  const body = document.createElement('span')
  body.textContent = `${text} `
  ui.message.replaceChildren(heading, body)
  if (code !== undefined) {
    const codeElement = document.createElement('code')
    codeElement.textContent = code
    ui.message.append(codeElement)
    ui.message.dataset.code = code
  } else {
    delete ui.message.dataset.code
  }
  ui.message.dataset.kind = kind
  ui.message.hidden = false
}

function clearMessage (): void {
  ui.message.hidden = true
  ui.message.replaceChildren()
  delete ui.message.dataset.code
}

// ---- Time ----

function countdown (untilIso: string): string {
  const seconds = Math.round((Date.parse(untilIso) - Date.now()) / 1000)
  if (seconds <= 0) return 'now'
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = String(seconds % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

function clock (iso: string): string {
  return new Date(iso).toLocaleTimeString()
}

function tick (): void {
  if (session === null) return
  const tokenLeft = countdown(session.access_token_expires_at)
  ui.tokenCountdown.textContent = tokenLeft === 'now' ? 'due — the gateway refreshes it on the next request' : tokenLeft
  ui.sessionCountdown.textContent = countdown(session.expires_at)
}

// ---- Rendering ----

function setState (state: PageState): void {
  document.body.dataset.state = state
  ui.loginCard.hidden = state !== 'signed-out'
  ui.mfaCard.hidden = state !== 'mfa'
  for (const card of [ui.sessionCard, ui.apiCard, ui.logoutCard]) card.hidden = state !== 'signed-in'
  if (state !== 'signed-in') hideRecoveryCode()
  if (state !== 'mfa') stopPush()
  ui.status.dataset.state = state
  if (state !== 'signed-in') {
    ui.status.textContent = state === 'loading' ? 'Checking session…' : state === 'mfa' ? 'Second factor needed' : 'Signed out'
  }
}

function text (value: unknown, fallback = '—'): string {
  return typeof value === 'string' && value !== '' ? value : fallback
}

function renderSession (view: SessionView): void {
  const previous = session
  session = view
  const name = text(view.user.name, text(view.user.email, 'Signed-in user'))
  ui.status.textContent = `Signed in as ${name}`
  ui.avatar.textContent = name.split(/\s+/).map(part => part.charAt(0)).join('').slice(0, 2).toUpperCase()
  ui.userName.textContent = name
  ui.userEmail.textContent = text(view.user.email, '')
  ui.userSub.textContent = text(view.user.sub)
  ui.scope.textContent = view.scope
  ui.refreshToken.textContent = view.has_refresh_token
    ? 'held by the gateway (the page never sees it)'
    : 'none — the session ends when the access token expires'
  ui.tokenCountdown.dataset.expiresAt = view.access_token_expires_at
  ui.tokenExpiry.textContent = `(at ${clock(view.access_token_expires_at)})`
  ui.sessionExpiry.textContent = `(at ${clock(view.expires_at)} if idle)`
  ui.documentCookie.textContent = document.cookie === '' ? '"" — the session cookie is httpOnly' : JSON.stringify(document.cookie)

  if (previous !== null && previous.access_token_expires_at !== view.access_token_expires_at) {
    refreshCount += 1
    ui.refreshNote.dataset.count = String(refreshCount)
    ui.refreshNote.textContent = `The gateway refreshed the access token at ${new Date().toLocaleTimeString()}; ` +
      `the new one expires at ${clock(view.access_token_expires_at)}` +
      ` (${refreshCount} refresh${refreshCount === 1 ? '' : 'es'} since this page signed in).`
    ui.refreshNote.hidden = false
    ui.refreshNote.classList.remove('flash')
    void ui.refreshNote.offsetWidth // restart the animation
    ui.refreshNote.classList.add('flash')
  }
  setState('signed-in')
  tick()
  scheduleCheck()
}

function renderSignedOut (): void {
  session = null
  refreshCount = 0
  window.clearTimeout(checkTimer)
  ui.refreshNote.hidden = true
  delete ui.refreshNote.dataset.count
  ui.apiResult.hidden = true
  setState('signed-out')
}

function renderEcho (method: string, reply: EchoView): void {
  ui.apiRequest.textContent = `${method} /api/echo → upstream saw ${reply.method} ${reply.path}`
  ui.apiBearer.textContent = reply.bearer.present ? 'yes — the gateway added Authorization: Bearer …' : 'no'
  ui.apiBearer.className = reply.bearer.present ? 'yes' : 'no'
  const expiry = reply.bearer.expires_at
  ui.apiBearerExpiry.textContent = expiry === undefined
    ? '—'
    : `${clock(expiry)}${session !== null && expiry === session.access_token_expires_at ? ' (the session\'s current access token)' : ''}`
  ui.apiCookies.textContent = reply.cookies_received ? 'yes' : 'none — the gateway removed the session cookie'
  ui.apiCookies.className = reply.cookies_received ? 'no' : 'good-no'
  ui.apiRaw.textContent = JSON.stringify(reply, null, 2)
  ui.apiResult.hidden = false
  ui.apiResult.dataset.bearer = String(reply.bearer.present)
  ui.apiResult.dataset.cookies = String(reply.cookies_received)
}

// ---- Session checks ----

function scheduleCheck (delayMs?: number): void {
  window.clearTimeout(checkTimer)
  if (session === null) return
  const due = Math.min(Date.parse(session.access_token_expires_at), Date.parse(session.expires_at)) + AFTER_EXPIRY_MS - Date.now()
  const delay = delayMs ?? Math.max(MIN_CHECK_INTERVAL_MS, Math.min(MAX_CHECK_INTERVAL_MS, due))
  checkTimer = window.setTimeout(() => { void checkSession() }, delay)
}

/** Signed-out answers end the session on the page; anything else keeps it and shows why. */
function handleSessionError (err: unknown): void {
  if (err instanceof ApiError && (err.code === 'no_session' || err.code === 'session_expired')) {
    renderSignedOut()
    showError(err)
    return
  }
  showError(err)
  if (session !== null) scheduleCheck(err instanceof ApiError && err.retryAfter !== undefined ? err.retryAfter * 1000 : RETRY_AFTER_ERROR_MS)
}

async function checkSession (): Promise<void> {
  try {
    const view = await currentSession()
    if (view === null) {
      if (session !== null) showError(new ApiError('session_expired', 401, ''))
      renderSignedOut()
      return
    }
    clearMessageIfTransient()
    renderSession(view)
  } catch (err) {
    handleSessionError(err)
  }
}

/** A retryable message (idp_unavailable, …) goes away once the session answers again. */
function clearMessageIfTransient (): void {
  if (ui.message.dataset.kind === 'warn') clearMessage()
}

async function busy (buttons: HTMLButtonElement[], work: () => Promise<void>): Promise<void> {
  for (const button of buttons) button.disabled = true
  try {
    await work()
  } finally {
    for (const button of buttons) button.disabled = false
  }
}

// ---- Second factor (README, "MFA") ----

type MfaStep = 'choose' | 'otp' | 'binding_code' | 'recovery_code' | 'push'
type CodeStep = 'otp' | 'binding_code' | 'recovery_code'

/** Codes after which the gateway has ended the pending login: only a new password sign-in helps. */
const MFA_FINAL = new Set(['mfa_rejected', 'mfa_expired', 'mfa_attempts_exceeded', 'mfa_enrollment_required', 'account_blocked', 'access_denied', 'password_reset_required', 'interactive_login_required'])
/** Polls wait a little past the interval, so timer jitter never makes them early (early polls get mfa_slow_down). */
const POLL_MARGIN_MS = 250

const mfa = {
  step: 'choose' as MfaStep,
  current: undefined as Authenticator | undefined,
  /** Bumped whenever the push wait ends (cancel, back, success): answers of older polls are ignored. */
  generation: 0,
  pollTimer: undefined as number | undefined,
  nextPollAt: 0,
  interval: 0,
  polls: 0
}

/** How a factor is presented: what it is, and what the user will do with it. */
function describe (a: Authenticator): { title: string, detail: string, tag: string } {
  if (a.type === 'otp') return { title: 'Authenticator app', detail: 'type its current 6-digit one-time password', tag: 'otp' }
  if (a.type === 'recovery-code') return { title: 'Recovery code', detail: 'the one-time code you saved when you enrolled', tag: 'recovery-code' }
  const to = a.name ?? 'your device'
  switch (a.channel) {
    case 'auth0': return { title: `Push to ${to}`, detail: 'approve the sign-in on the device', tag: 'oob · push' }
    case 'sms': return { title: `Text message to ${to}`, detail: 'type the 6-digit code it brings', tag: 'oob · sms' }
    case 'voice': return { title: `Phone call to ${to}`, detail: 'type the 6-digit code you hear', tag: 'oob · voice' }
    case 'email': return { title: `Email to ${to}`, detail: 'type the 6-digit code it brings', tag: 'oob · email' }
    default: return { title: `Out-of-band: ${to}`, detail: 'follow the message sent to you', tag: `oob · ${a.channel ?? '?'}` }
  }
}

function startMfa (authenticators: Authenticator[]): void {
  const items = authenticators.map(a => {
    const { title, detail, tag } = describe(a)
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'factor'
    button.dataset.id = a.id
    button.dataset.type = a.type
    if (a.channel !== undefined) button.dataset.channel = a.channel
    const heading = document.createElement('strong')
    heading.textContent = title
    const what = document.createElement('span')
    what.className = 'muted'
    what.textContent = detail
    const kind = document.createElement('code')
    kind.className = 'factor-tag'
    kind.textContent = tag
    button.append(heading, what, kind)
    button.addEventListener('click', () => { void pick(a, button) })
    const item = document.createElement('li')
    item.append(button)
    return item
  })
  ui.mfaAuthenticators.replaceChildren(...items)
  setState('mfa')
  showStep('choose')
}

function showStep (step: MfaStep): void {
  mfa.step = step
  ui.mfaCard.dataset.step = step
  ui.mfaChoose.hidden = step !== 'choose'
  ui.mfaCodeForm.hidden = step !== 'otp' && step !== 'binding_code' && step !== 'recovery_code'
  ui.mfaPush.hidden = step !== 'push'
  ui.mfaOther.hidden = step === 'choose'
}

/** Picking a factor: a recovery code needs no challenge; the others ask the gateway what comes next. */
async function pick (a: Authenticator, button: HTMLButtonElement): Promise<void> {
  clearMessage()
  mfa.current = a
  if (a.type === 'recovery-code') {
    showCodeStep('recovery_code')
    return
  }
  const buttons = Array.from(ui.mfaAuthenticators.querySelectorAll('button'))
  await busy(buttons, async () => {
    button.setAttribute('aria-busy', 'true')
    try {
      const next = await mfaChallenge(a.id)
      if (next.challenge === 'push') startPush(next.interval)
      else showCodeStep(next.challenge)
    } catch (err) {
      mfaFailed(err)
    } finally {
      button.removeAttribute('aria-busy')
    }
  })
}

const CODE_STEPS: Record<CodeStep, { label: string, caption: (a: Authenticator | undefined) => string, numeric: boolean }> = {
  otp: {
    label: 'One-time password from your authenticator app',
    caption: () => 'Type the 6-digit code your authenticator app shows now. The page sends it once to `POST /session/mfa` as ' +
      '`{"otp"}`; the gateway redeems it at the identity provider with the MFA token it holds.',
    numeric: true
  },
  binding_code: {
    label: 'Code from the message',
    caption: a => `The identity provider sent a 6-digit code to ${a?.name ?? 'you'}. Type it here: the gateway sends it ` +
      'with the challenge\'s `oob_code`, which never reaches your browser.',
    numeric: true
  },
  recovery_code: {
    label: 'Recovery code',
    caption: () => 'Type the recovery code you saved when you enrolled. It works once: after signing in, the identity ' +
      'provider issues a new one (`recovery_code` in the answer), which this page shows you once.',
    numeric: false
  }
}

/** Text with `backticked` parts shown as code; never HTML. */
function setCaption (target: HTMLElement, caption: string): void {
  target.replaceChildren(...caption.split('`').map((part, i) => {
    if (i % 2 === 0) return document.createTextNode(part)
    const code = document.createElement('code')
    code.textContent = part
    return code
  }))
}

function showCodeStep (step: CodeStep): void {
  const spec = CODE_STEPS[step]
  ui.mfaCodeForm.dataset.kind = step
  ui.mfaCodeLabel.textContent = spec.label
  setCaption(ui.mfaCodeCaption, spec.caption(mfa.current))
  ui.mfaCode.value = ''
  ui.mfaCode.inputMode = spec.numeric ? 'numeric' : 'text'
  ui.mfaCode.autocomplete = spec.numeric ? 'one-time-code' : 'off'
  showStep(step)
  ui.mfaCode.focus()
}

// Push: wait `interval` seconds between polls, as the gateway says; mfa_slow_down widens it.

function startPush (interval: number): void {
  mfa.generation += 1
  mfa.polls = 0
  ui.mfaPush.dataset.polls = '0'
  ui.mfaPushTarget.textContent = `Waiting for approval on ${mfa.current?.name ?? 'your device'}…`
  showStep('push')
  schedulePoll(interval)
}

function schedulePoll (seconds: number): void {
  window.clearTimeout(mfa.pollTimer)
  mfa.interval = Math.max(1, seconds)
  ui.mfaPush.dataset.interval = String(mfa.interval)
  mfa.nextPollAt = Date.now() + mfa.interval * 1000 + POLL_MARGIN_MS
  const generation = mfa.generation
  mfa.pollTimer = window.setTimeout(() => { void poll(generation) }, mfa.nextPollAt - Date.now())
  tickPush()
}

function tickPush (): void {
  if (mfa.step !== 'push' || ui.mfaPush.hidden) return
  const left = Math.max(0, Math.ceil((mfa.nextPollAt - POLL_MARGIN_MS - Date.now()) / 1000))
  ui.mfaPushNext.textContent = left === 0
    ? 'checking…'
    : `next check in ${left} s (every ${mfa.interval} s${mfa.polls > 0 ? `; ${mfa.polls} check${mfa.polls === 1 ? '' : 's'} so far` : ''})`
}

async function poll (generation: number): Promise<void> {
  if (generation !== mfa.generation) return
  tickPush()
  try {
    const result = await mfaVerify({})
    // A push approved just as the user cancelled still signed them in: show it.
    if (result.done) {
      finishMfa(result.view)
      return
    }
    if (generation !== mfa.generation) return
    mfa.polls += 1
    ui.mfaPush.dataset.polls = String(mfa.polls)
    if (result.code === 'mfa_slow_down') {
      showError(new ApiError('mfa_slow_down', 202, ''))
      schedulePoll(Math.max(result.interval, mfa.interval + 1))
    } else {
      schedulePoll(result.interval)
    }
  } catch (err) {
    if (generation !== mfa.generation) return
    mfaFailed(err)
    // Transient trouble (the IdP or the store briefly unavailable, throttling): keep waiting, a little longer.
    if (mfa.step === 'push' && document.body.dataset.state === 'mfa') {
      schedulePoll(err instanceof ApiError && err.retryAfter !== undefined ? Math.max(err.retryAfter, mfa.interval) : mfa.interval)
    }
  }
}

function stopPush (): void {
  mfa.generation += 1
  window.clearTimeout(mfa.pollTimer)
  mfa.pollTimer = undefined
}

function mfaFailed (err: unknown): void {
  showError(err)
  const code = err instanceof ApiError ? err.code : ''
  if (MFA_FINAL.has(code)) {
    // The gateway ended the pending login: back to the password.
    setState('signed-out')
    ui.username.focus()
  } else if (code === 'mfa_invalid_code' && !ui.mfaCodeForm.hidden) {
    ui.mfaCode.select()
    ui.mfaCode.focus()
  }
}

function finishMfa (view: LoginView): void {
  stopPush()
  clearMessage()
  const { recovery_code: recoveryCode, ...sessionView } = view
  renderSession(sessionView)
  if (recoveryCode !== undefined) showRecoveryCode(recoveryCode)
}

function showRecoveryCode (code: string): void {
  ui.recoveryCode.textContent = code
  ui.recoveryCard.hidden = false
  ui.recoveryDone.focus()
}

/** The recovery code lives only in this element until dismissed or the page leaves the signed-in state. */
function hideRecoveryCode (): void {
  ui.recoveryCard.hidden = true
  ui.recoveryCode.textContent = ''
}

// ---- Events ----

ui.loginForm.addEventListener('submit', event => {
  event.preventDefault()
  const realm = ui.realm.value.trim()
  void busy([ui.loginButton], async () => {
    clearMessage()
    try {
      const view = await login({ username: ui.username.value.trim(), password: ui.password.value, ...(realm === '' ? {} : { realm }) })
      ui.password.value = ''
      renderSession(view)
    } catch (err) {
      ui.password.value = ''
      const authenticators = err instanceof ApiError && err.code === 'mfa_required' ? authenticatorsOf(err) : []
      if (authenticators.length > 0) {
        startMfa(authenticators)
        showError(err)
        ui.mfaAuthenticators.querySelector('button')?.focus()
        return
      }
      if (err instanceof ApiError && err.code === 'mfa_required') {
        // No authenticators: the gateway cannot continue this login (the IdP refused it the MFA API).
        const { kind, title, text } = explain('mfa_unavailable')
        showMessage(kind, title, text, err.code)
      } else {
        showError(err)
      }
      ui.password.focus()
    }
  })
})

document.querySelectorAll<HTMLButtonElement>('button.fill').forEach(button => {
  button.addEventListener('click', () => {
    ui.username.value = button.dataset.username ?? ''
    ui.password.value = button.dataset.password ?? ''
    ui.realm.value = button.dataset.realm ?? ''
    ui.loginButton.focus()
  })
})

ui.mfaBack.addEventListener('click', () => {
  clearMessage()
  setState('signed-out')
})

ui.mfaOther.addEventListener('click', () => {
  stopPush()
  clearMessage()
  showStep('choose')
})

ui.mfaCancel.addEventListener('click', () => {
  stopPush()
  showStep('choose')
  const { kind, title, text } = explain('mfa_cancelled')
  showMessage(kind, title, text)
})

ui.mfaCodeForm.addEventListener('submit', event => {
  event.preventDefault()
  const step = mfa.step
  const value = ui.mfaCode.value.trim()
  if (value === '' || (step !== 'otp' && step !== 'binding_code' && step !== 'recovery_code')) {
    ui.mfaCode.focus()
    return
  }
  const proof: MfaProof = step === 'otp' ? { otp: value } : step === 'binding_code' ? { binding_code: value } : { recovery_code: value }
  void busy([ui.mfaSubmit], async () => {
    clearMessage()
    try {
      const result = await mfaVerify(proof)
      if (result.done) finishMfa(result.view)
      else showError(new ApiError('unexpected_response', 202, ''))
    } catch (err) {
      mfaFailed(err)
    }
  })
})

ui.recoveryDone.addEventListener('click', () => { hideRecoveryCode() })

for (const [button, method] of [[ui.callApi, 'GET'], [ui.postApi, 'POST']] as const) {
  button.addEventListener('click', () => {
    void busy([ui.callApi, ui.postApi], async () => {
      clearMessage()
      try {
        renderEcho(method, await echo(method))
      } catch (err) {
        handleSessionError(err)
      }
    })
  })
}

ui.logout.addEventListener('click', () => {
  void busy([ui.logout], async () => {
    clearMessage()
    try {
      await logout()
      renderSignedOut()
      showMessage('info', 'Signed out', 'The gateway revoked the refresh token at the identity provider, deleted the session and cleared the cookie.')
    } catch (err) {
      showError(err)
    }
  })
})

// A tab coming back from the background (where timers are throttled) catches up at once.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session !== null) void checkSession()
})

window.setInterval(() => { tick(); tickPush() }, 1000)

setState('loading')
try {
  const view = await currentSession()
  if (view === null) renderSignedOut()
  else renderSession(view)
} catch (err) {
  renderSignedOut()
  showError(err)
}
