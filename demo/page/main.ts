/**
 * The demo page: sign in, watch the session and the access token's expiry (and its refreshes), call the API through
 * the gateway, sign out. Bundled by routes/demo-page.ts with esbuild at startup; runs in the browser.
 *
 * `document.body.dataset.state` (`loading`, `signed-out`, `mfa`, `signed-in`), `#message[data-code]`,
 * `#token-countdown[data-expires-at]` and `#refresh-note[data-count]` are stable hooks for the browser tests.
 */
import { ApiError, currentSession, echo, login, logout, type EchoView, type SessionView } from './api.js'
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
  ui.status.dataset.state = state
  if (state !== 'signed-in') {
    ui.status.textContent = state === 'loading' ? 'Checking session…' : 'Signed out'
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
      if (err instanceof ApiError && err.code === 'mfa_required') setState('mfa')
      showError(err)
      if (document.body.dataset.state === 'signed-out') ui.password.focus()
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

window.setInterval(tick, 1000)

setState('loading')
try {
  const view = await currentSession()
  if (view === null) renderSignedOut()
  else renderSession(view)
} catch (err) {
  renderSignedOut()
  showError(err)
}
