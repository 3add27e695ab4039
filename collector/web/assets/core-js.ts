// The console's script, part 1 of 3: helpers, the API client with the token, sign-in, layout, routing,
// the event stream. Plain browser JavaScript kept as a string (no bundler for the browser, nothing
// fetched from elsewhere); it is tested in headless Chromium by test/web/console.test.ts. It holds
// no backtick and no dollar-brace, so it can live inside this template literal as is.
export const CORE_JS = String.raw`
'use strict';
var TOKEN_KEY = 'httploop.token';
var PAGE_SIZE = 100;
var state = { token: null, route: null, cleanup: [], stream: null, listeners: [] };

function h(tag, props) {
  var el = document.createElement(tag);
  var children = Array.prototype.slice.call(arguments, 2);
  if (props) {
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === 'text') el.textContent = value;
      else if (key === 'class') el.className = value;
      else if (key.slice(0, 2) === 'on') el.addEventListener(key.slice(2), value);
      else if (key === 'value') el.value = value;
      // CSSOM, not the style attribute: the page's Content-Security-Policy allows no inline style.
      else if (key === 'style') el.style.cssText = value;
      else el.setAttribute(key, value === true ? '' : value);
    });
  }
  append(el, children);
  return el;
}

function append(el, children) {
  children.forEach(function (child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  });
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

function announce(text) {
  var live = document.getElementById('announce');
  if (live) live.textContent = text;
}

function errorBox(err) {
  return h('p', { class: 'error', role: 'alert', text: err && err.message ? err.message : String(err) });
}

function statusClass(status) {
  if (!status) return 'st st-0';
  return 'st st-' + String(status).charAt(0);
}

function fmtTime(iso) {
  var d = new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  var pad = function (n, w) { return String(n).padStart(w || 2, '0'); };
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' +
    pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
}

function fmtMs(ms) {
  if (typeof ms !== 'number') return '';
  if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
  return (ms >= 10 ? ms.toFixed(0) : ms.toFixed(1)) + ' ms';
}

function pathOf(url) {
  var q = String(url).indexOf('?');
  return q < 0 ? String(url) : String(url).slice(0, q);
}

// The API, with the token from the session. A refused token ends the session.
function api(method, path, body, raw) {
  var headers = {};
  if (state.token) headers.authorization = 'Bearer ' + state.token;
  var init = { method: method, headers: headers, cache: 'no-store' };
  if (body !== undefined) {
    if (typeof body === 'string') headers['content-type'] = 'text/plain; charset=utf-8';
    else headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  return fetch(path, init).then(function (res) {
    if (res.status === 401 && path !== '/v1/captures?limit=1') {
      signOut('The collector refused the token; sign in again.');
      throw new Error('signed out: the token was refused');
    }
    if (raw && res.ok) return res.text();
    return res.text().then(function (text) {
      var data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!res.ok) {
        var err = new Error(data && data.error && data.error.message ? data.error.message : res.status + ' ' + res.statusText);
        err.status = res.status;
        err.body = data;
        throw err;
      }
      return data;
    });
  });
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  stopStream();
  renderSignIn(message);
}

function renderSignIn(message) {
  var app = clear(document.getElementById('app'));
  var input = h('input', { id: 'token', type: 'password', autocomplete: 'current-password', spellcheck: 'false',
    'aria-describedby': 'token-help' });
  var problem = h('p', { id: 'signin-error', class: 'error', role: 'alert', hidden: !message, text: message || '' });
  var form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'httploop console' }),
    h('label', { for: 'token', text: 'Collector token' }),
    input,
    h('p', { id: 'token-help', class: 'help', text: 'The token the collector was started with (--token or LOOP_TOKEN). It is kept in this tab only, until you sign out or close it.' }),
    problem,
    h('button', { type: 'submit', class: 'primary', text: 'Sign in' }));
  // The input has no name, and the form is never submitted: the token cannot end up in a URL.
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var token = input.value.trim();
    problem.hidden = true;
    var headers = token ? { authorization: 'Bearer ' + token } : {};
    fetch('/v1/captures?limit=1', { headers: headers, cache: 'no-store' }).then(function (res) {
      if (res.status === 401) {
        problem.textContent = token ? 'Wrong token: the collector refused it.' : 'This collector needs a token.';
        problem.hidden = false;
        input.select();
        return;
      }
      if (!res.ok) throw new Error('The collector answered ' + res.status + ' ' + res.statusText);
      state.token = token;
      sessionStorage.setItem(TOKEN_KEY, token);
      startApp();
    }).catch(function (err) {
      problem.textContent = 'Cannot reach the collector: ' + err.message;
      problem.hidden = false;
    });
  });
  app.appendChild(form);
  input.focus();
}

var NAV = [
  { href: '#/captures', label: 'Captures', match: /^(captures|capture|replay|trace)$/ },
  { href: '#/rules', label: 'Rules', match: /^rules$/ },
  { href: '#/diag', label: 'Diagnostics', match: /^diag$/ },
];

function startApp() {
  var app = clear(document.getElementById('app'));
  var links = NAV.map(function (item) { return h('li', null, h('a', { href: item.href, 'data-nav': item.label, text: item.label })); });
  app.appendChild(h('header', { class: 'top' },
    h('a', { class: 'skip', href: '#main', onclick: function (e) { e.preventDefault(); document.getElementById('main').focus(); }, text: 'Skip to content' }),
    h('span', { class: 'brand', text: 'httploop' }),
    h('nav', { 'aria-label': 'Sections' }, h('ul', null, links)),
    h('span', { id: 'live', class: 'live off', role: 'status', text: 'connecting' }),
    h('button', { type: 'button', class: 'link', onclick: function () { signOut('Signed out.'); }, text: 'Sign out' })));
  app.appendChild(h('main', { id: 'main', tabindex: '-1' }));
  app.appendChild(h('div', { id: 'announce', class: 'sr-only', 'aria-live': 'polite' }));
  startStream();
  if (!location.hash || location.hash === '#') location.hash = '#/captures';
  else route();
}

function parseHash() {
  var hash = location.hash.replace(/^#\/?/, '');
  var q = hash.indexOf('?');
  var path = q < 0 ? hash : hash.slice(0, q);
  var query = new URLSearchParams(q < 0 ? '' : hash.slice(q + 1));
  var parts = path.split('/').map(function (p) { try { return decodeURIComponent(p); } catch (e) { return p; } });
  return { name: parts[0] || 'captures', arg: parts[1], query: query };
}

function route() {
  if (!state.token && state.token !== '') return;
  state.cleanup.forEach(function (fn) { fn(); });
  state.cleanup = [];
  state.listeners = [];
  var r = parseHash();
  state.route = r;
  document.querySelectorAll('[data-nav]').forEach(function (a) {
    var item = NAV.filter(function (n) { return n.label === a.getAttribute('data-nav'); })[0];
    if (item.match.test(r.name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  var main = document.getElementById('main');
  if (!main) return;
  clear(main);
  var view = VIEWS[r.name];
  if (!view) {
    main.appendChild(errorBox(new Error('No such page: ' + r.name)));
    return;
  }
  // Focus moves to the new page (as a screen reader expects after navigation); a view may move it on.
  if (state.routed) main.focus({ preventScroll: true });
  state.routed = true;
  window.scrollTo(0, 0);
  view(main, r);
}

// New captures, as server-sent events read with fetch(): EventSource cannot send the token in a header.
function startStream() {
  stopStream();
  var controller = new AbortController();
  var stream = { controller: controller, retry: null };
  state.stream = stream;
  var live = document.getElementById('live');
  var setLive = function (on, text) {
    if (!live) return;
    live.className = on ? 'live on' : 'live off';
    live.textContent = text;
  };
  var headers = {};
  if (state.token) headers.authorization = 'Bearer ' + state.token;
  fetch('/v1/events', { headers: headers, signal: controller.signal, cache: 'no-store' }).then(function (res) {
    if (res.status === 401) { signOut('The collector refused the token; sign in again.'); return; }
    if (!res.ok || !res.body) throw new Error('events: ' + res.status);
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = '';
    var pump = function () {
      return reader.read().then(function (chunk) {
        if (chunk.done) throw new Error('events: stream ended');
        buffer += decoder.decode(chunk.value, { stream: true });
        var at;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          var block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          var event = 'message';
          var data = '';
          block.split('\n').forEach(function (line) {
            if (line.indexOf('event:') === 0) event = line.slice(6).trim();
            else if (line.indexOf('data:') === 0) data += line.slice(5).trim();
          });
          if (event === 'ready') setLive(true, 'live');
          if (event === 'captures') {
            var payload = {};
            try { payload = JSON.parse(data); } catch (e) { payload = {}; }
            state.listeners.forEach(function (fn) { fn(payload); });
          }
        }
        return pump();
      });
    };
    return pump();
  }).catch(function () {
    if (controller.signal.aborted || state.stream !== stream) return;
    setLive(false, 'reconnecting');
    stream.retry = setTimeout(startStream, 3000);
  });
}

function stopStream() {
  if (!state.stream) return;
  state.stream.controller.abort();
  clearTimeout(state.stream.retry);
  state.stream = null;
}

function onCaptures(fn) {
  state.listeners.push(fn);
}

function every(ms, fn) {
  var timer = setInterval(fn, ms);
  state.cleanup.push(function () { clearInterval(timer); });
}

function field(label, input, help) {
  var id = input.id || ('f-' + Math.random().toString(36).slice(2));
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), input, help ? h('span', { class: 'help', text: help }) : null);
}

function parseHeaderLines(text) {
  var out = [];
  String(text).split('\n').forEach(function (line, i) {
    if (!line.trim()) return;
    var colon = line.indexOf(':');
    if (colon <= 0) throw new Error('header line ' + (i + 1) + ": use 'Name: value'");
    out.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  });
  return out;
}

var VIEWS = {};
`;
