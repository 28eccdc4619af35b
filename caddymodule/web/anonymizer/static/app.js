// The Anonymizer's page script: masking playground and chat. No framework,
// no HTML built from strings: every node is created with the DOM API and
// text goes in through textContent.
'use strict';
(function () {
  const T = JSON.parse(document.getElementById('i18n').textContent);
  const body = document.body;
  const root = body.dataset.root;
  const maxText = Number(body.dataset.maxText) || 1048576;
  const $ = function (sel) { return document.querySelector(sel); };

  function limitText() {
    return maxText >= 1048576 ? (maxText / 1048576).toFixed(1) + ' MiB' : (maxText / 1024).toFixed(1) + ' KiB';
  }
  function msg(key) {
    return (T[key] || key).replace('{limit}', limitText());
  }
  function show(node, text) {
    node.textContent = text || '';
    node.hidden = !text;
  }
  function toLogin() {
    location.assign(root + '/login?next=' + encodeURIComponent(location.pathname));
  }
  function byteLength(s) {
    return new TextEncoder().encode(s).length;
  }

  // Copy buttons of the masking result.
  document.addEventListener('click', function (e) {
    const b = e.target.closest('button.copy');
    if (!b) return;
    let text = '';
    if (b.dataset.copy === 'masked') {
      text = $('#masked').textContent;
    } else {
      text = Array.from(document.querySelectorAll('#mappings tbody tr')).map(function (tr) {
        return Array.from(tr.cells).map(function (c) { return c.textContent; }).join('\t');
      }).join('\n');
    }
    const done = function () {
      const old = b.textContent;
      b.textContent = T.copied;
      setTimeout(function () { b.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    }
  });

  // readTextFile returns the text of a dropped or chosen file, or throws
  // an Error whose message is already translated.
  async function readTextFile(f) {
    if (f.size > maxText) throw new Error(msg('too_long'));
    const okName = /\.(txt|md|markdown|text)$/i.test(f.name) || /^text\//.test(f.type);
    if (!okName) throw new Error(msg('not_text'));
    let s;
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(await f.arrayBuffer());
    } catch (err) {
      throw new Error(msg('not_text'));
    }
    if (s.indexOf('\u0000') >= 0) throw new Error(msg('not_text'));
    return s;
  }

  function initMask() {
    const form = $('#mask-form');
    const text = $('#text');
    const file = $('#file');
    const err = $('#client-error');
    const result = $('#result');
    const button = $('#mask-button');

    async function load(f) {
      show(err, '');
      try {
        text.value = await readTextFile(f);
        text.focus();
      } catch (e) {
        show(err, e.message);
      }
    }
    file.addEventListener('change', function () {
      if (file.files.length) load(file.files[0]);
      file.value = '';
    });
    text.addEventListener('dragover', function (e) {
      e.preventDefault();
      text.classList.add('over');
    });
    text.addEventListener('dragleave', function () { text.classList.remove('over'); });
    text.addEventListener('drop', function (e) {
      e.preventDefault();
      text.classList.remove('over');
      if (e.dataTransfer.files.length) load(e.dataTransfer.files[0]);
    });
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      show(err, '');
      const t = text.value;
      if (t.trim() === '') {
        result.replaceChildren();
        show(err, msg('empty_text'));
        return;
      }
      if (byteLength(t) > maxText) {
        result.replaceChildren();
        show(err, msg('too_long'));
        return;
      }
      const algo = form.querySelector('input[name=algorithm]:checked').value;
      button.disabled = true;
      result.setAttribute('aria-busy', 'true');
      try {
        const resp = await fetch(form.action, {
          method: 'POST',
          body: new URLSearchParams({ text: t, algorithm: algo }),
          credentials: 'same-origin',
        });
        if (resp.status === 401) return toLogin();
        // The fragment is the server's own html/template output (every
        // value escaped there); it is parsed inertly and adopted.
        const doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
        result.replaceChildren.apply(result, Array.from(doc.body.childNodes).map(function (n) {
          return document.importNode(n, true);
        }));
        const first = result.querySelector('#masked, #mask-error');
        if (first && first.id === 'masked') first.focus();
      } catch (e2) {
        show(err, msg('network_error'));
      } finally {
        button.disabled = false;
        result.removeAttribute('aria-busy');
      }
    });
  }

  // ---- chat ----

  const STORE = 'anonymizer.chats.v1';

  function newID() {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    return Array.from(b, function (x) { return x.toString(16).padStart(2, '0'); }).join('');
  }

  function validChat(c) {
    return c && typeof c === 'object' && Array.isArray(c.messages) && c.messages.every(function (m) {
      return m && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string';
    });
  }

  function loadState() {
    try {
      const s = JSON.parse(localStorage.getItem(STORE) || 'null');
      if (s && Array.isArray(s.chats) && s.chats.every(validChat)) return s;
    } catch (e) { /* a damaged store starts afresh */ }
    return { chats: [], current: null };
  }

  function initChat() {
    let state = loadState();
    let controller = null;
    const list = $('#chat-list');
    const msgs = $('#messages');
    const model = $('#model');
    const anon = $('#anonymize');
    const algo = $('#chat-algorithm');
    const system = $('#system');
    const message = $('#message');
    const form = $('#chat-form');
    const send = $('#send');
    const stop = $('#stop');
    const err = $('#chat-error');
    const warning = $('#anon-warning');
    const note = $('#anon-note');

    function save() {
      try {
        localStorage.setItem(STORE, JSON.stringify(state));
      } catch (e) {
        show(err, e.message);
      }
    }
    function current() {
      let c = state.chats.find(function (x) { return x.id === state.current; });
      if (!c) {
        c = { id: newID(), title: '', model: '', system: '', anonymize: true, algorithm: 'fast', messages: [], updated: Date.now() };
        state.chats.unshift(c);
        state.current = c.id;
      }
      return c;
    }
    function title(c) {
      if (c.title) return c.title;
      const first = c.messages.find(function (m) { return m.role === 'user'; });
      return first ? first.content.slice(0, 40) : T.untitled;
    }

    function renderList() {
      list.replaceChildren();
      state.chats.forEach(function (c) {
        const li = document.createElement('li');
        if (c.id === state.current) li.className = 'current';
        const open = document.createElement('button');
        open.type = 'button';
        open.className = 'open';
        open.textContent = title(c);
        if (c.id === state.current) open.setAttribute('aria-current', 'true');
        open.addEventListener('click', function () {
          if (controller) return;
          state.current = c.id;
          save();
          renderAll();
          message.focus();
        });
        const ren = document.createElement('button');
        ren.type = 'button';
        ren.className = 'small rename';
        ren.textContent = T.rename;
        ren.setAttribute('aria-label', T.rename + ': ' + title(c));
        ren.addEventListener('click', function () { renameForm(li, c); });
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'small delete';
        del.textContent = T.delete;
        del.setAttribute('aria-label', T.delete + ': ' + title(c));
        del.addEventListener('click', function () {
          if (!del.classList.contains('confirm')) {
            del.classList.add('confirm');
            del.textContent = T.delete_confirm;
            return;
          }
          state.chats = state.chats.filter(function (x) { return x.id !== c.id; });
          if (state.current === c.id) state.current = state.chats.length ? state.chats[0].id : null;
          save();
          renderAll();
          $('#new-chat').focus();
        });
        del.addEventListener('blur', function () {
          del.classList.remove('confirm');
          del.textContent = T.delete;
        });
        li.append(open, ren, del);
        list.appendChild(li);
      });
    }

    function renameForm(li, c) {
      const input = document.createElement('input');
      input.type = 'text';
      input.value = title(c);
      input.setAttribute('aria-label', T.rename);
      const ok = document.createElement('button');
      ok.type = 'button';
      ok.className = 'small';
      ok.textContent = T.rename_save;
      const commit = function () {
        c.title = input.value.trim().slice(0, 200);
        save();
        renderList();
      };
      ok.addEventListener('click', commit);
      input.addEventListener('keydown', function (e) {
        if (e.key === 'Enter') { e.preventDefault(); commit(); }
        if (e.key === 'Escape') { e.preventDefault(); renderList(); }
      });
      li.replaceChildren(input, ok);
      input.focus();
      input.select();
    }

    function bubble(role, content) {
      const div = document.createElement('div');
      div.className = 'msg ' + role;
      const who = document.createElement('div');
      who.className = 'who';
      who.textContent = role === 'user' ? T.you : T.assistant;
      const text = document.createElement('div');
      text.className = 'text';
      fill(text, role, content);
      div.append(who, text);
      msgs.appendChild(div);
      return text;
    }
    function fill(node, role, content) {
      if (role === 'user') node.textContent = content;
      else node.replaceChildren(window.renderMarkdown(content));
    }

    function renderMessages() {
      msgs.replaceChildren();
      current().messages.forEach(function (m) { bubble(m.role, m.content); });
      msgs.scrollTop = msgs.scrollHeight;
    }

    function renderSettings() {
      const c = current();
      anon.checked = c.anonymize !== false;
      algo.value = c.algorithm || 'fast';
      system.value = c.system || '';
      if (c.model && Array.from(model.options).some(function (o) { return o.value === c.model; })) model.value = c.model;
      renderAnon();
    }
    function renderAnon() {
      warning.hidden = anon.checked;
      note.hidden = !anon.checked;
      algo.disabled = !anon.checked;
    }

    function renderAll() {
      current();
      renderList();
      renderSettings();
      renderMessages();
      show(err, '');
    }

    function busy(on) {
      send.hidden = on;
      stop.hidden = !on;
      message.readOnly = on;
      if (on) msgs.setAttribute('aria-busy', 'true');
      else msgs.removeAttribute('aria-busy');
      // The focus stays in the message field (Escape stops the answer):
      // moving it to Stop would let the Enter that sent the message click
      // Stop with its keypress.
      if (!on || document.activeElement === send) message.focus();
    }

    async function loadModels() {
      try {
        const r = await fetch(root + '/models', { credentials: 'same-origin' });
        if (r.status === 401) return toLogin();
        const j = await r.json();
        if (!r.ok) throw new Error((j.error && j.error.message) || T.models_unavailable);
        model.replaceChildren();
        (j.models || []).forEach(function (m) {
          model.add(new Option(m.id, m.id));
        });
        if (!model.options.length) show(err, T.no_models);
        renderSettings();
        body.dataset.models = 'ready';
      } catch (e) {
        show(err, e.message || T.models_unavailable);
      }
    }

    async function ask() {
      const text = message.value;
      if (text.trim() === '') {
        show(err, msg('empty_text'));
        return;
      }
      if (byteLength(text) > maxText) {
        show(err, msg('too_long'));
        return;
      }
      if (!model.value) {
        show(err, T.no_model);
        return;
      }
      show(err, '');
      const c = current();
      c.model = model.value;
      c.system = system.value;
      c.anonymize = anon.checked;
      c.algorithm = algo.value;
      c.messages.push({ role: 'user', content: text });
      c.updated = Date.now();
      message.value = '';
      save();
      renderList();
      bubble('user', text);
      const out = bubble('assistant', '');
      out.parentNode.classList.add('streaming');
      let answer = '';
      let failed = '';
      // The answer is drawn at most once a frame, however fast tokens come.
      let painting = false;
      const paint = function () {
        if (painting) return;
        painting = true;
        requestAnimationFrame(function () {
          painting = false;
          if (!out.isConnected || !out.parentNode.classList.contains('streaming')) return;
          fill(out, 'assistant', answer);
          msgs.scrollTop = msgs.scrollHeight;
        });
      };
      controller = new AbortController();
      busy(true);
      try {
        const r = await fetch(root + '/chat/stream', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          credentials: 'same-origin',
          signal: controller.signal,
          body: JSON.stringify({
            model: c.model, system: c.system, anonymize: c.anonymize, algorithm: c.algorithm,
            messages: c.messages,
          }),
        });
        if (r.status === 401) return toLogin();
        if (!r.ok || !(r.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
          let m = '';
          try {
            const j = await r.json();
            m = (j.error && j.error.message) || '';
          } catch (e) { /* not JSON */ }
          throw new Error(m || T.router_unavailable);
        }
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const part = await reader.read();
          if (part.done) break;
          buf += dec.decode(part.value, { stream: true });
          let cut;
          while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
            const ev = buf.slice(0, cut);
            buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
            const data = ev.split(/\r?\n/).filter(function (l) { return l.startsWith('data:'); })
              .map(function (l) { return l.slice(5).replace(/^ /, ''); }).join('\n');
            if (!data || data === '[DONE]') continue;
            let obj;
            try { obj = JSON.parse(data); } catch (e) { continue; }
            if (obj.error) throw new Error(obj.error.message || T.router_unavailable);
            (obj.choices || []).forEach(function (ch) {
              if (ch.delta && typeof ch.delta.content === 'string') answer += ch.delta.content;
            });
            paint();
          }
        }
      } catch (e) {
        if (e.name === 'AbortError') {
          answer += answer ? '\n\n' + T.stopped : T.stopped;
        } else {
          failed = e.message || T.network_error;
        }
      } finally {
        controller = null;
        out.parentNode.classList.remove('streaming');
        if (answer) {
          c.messages.push({ role: 'assistant', content: answer });
          fill(out, 'assistant', answer);
        } else {
          out.parentNode.remove();
        }
        // A short answer can end before the next frame paints it: the
        // newest message is scrolled into view here too.
        msgs.scrollTop = msgs.scrollHeight;
        c.updated = Date.now();
        save();
        if (failed) show(err, failed);
        busy(false);
        body.dataset.chat = 'idle';
      }
    }

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!controller) {
        body.dataset.chat = 'busy';
        ask();
      }
    });
    stop.addEventListener('click', function () {
      if (controller) controller.abort();
    });
    message.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && controller) controller.abort();
    });
    anon.addEventListener('change', function () {
      current().anonymize = anon.checked;
      save();
      renderAnon();
    });
    algo.addEventListener('change', function () {
      current().algorithm = algo.value;
      save();
    });
    system.addEventListener('change', function () {
      current().system = system.value;
      save();
    });
    model.addEventListener('change', function () {
      current().model = model.value;
      save();
    });
    $('#new-chat').addEventListener('click', function () {
      if (controller) return;
      const c = current();
      if (c.messages.length) {
        state.current = null;
        current();
      }
      save();
      renderAll();
      message.focus();
    });
    document.querySelectorAll('.quick button').forEach(function (b) {
      b.addEventListener('click', function () {
        message.value = b.dataset.prompt + message.value;
        message.focus();
        message.setSelectionRange(message.value.length, message.value.length);
      });
    });
    $('#export').addEventListener('click', function () {
      const blob = new Blob([JSON.stringify({ version: 1, chats: state.chats }, null, 2)], { type: 'application/json' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'anonymizer-chats.json';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
    });
    const imp = $('#import');
    imp.addEventListener('change', async function () {
      const f = imp.files[0];
      imp.value = '';
      if (!f) return;
      try {
        if (f.size > 50 * maxText) throw new Error();
        const j = JSON.parse(await f.text());
        const chats = Array.isArray(j) ? j : j.chats;
        if (!Array.isArray(chats) || !chats.every(validChat)) throw new Error();
        const ids = new Set(state.chats.map(function (c) { return c.id; }));
        chats.forEach(function (c) {
          const copy = {
            id: typeof c.id === 'string' && !ids.has(c.id) ? c.id : newID(),
            title: typeof c.title === 'string' ? c.title : '',
            model: typeof c.model === 'string' ? c.model : '',
            system: typeof c.system === 'string' ? c.system : '',
            anonymize: c.anonymize !== false,
            algorithm: typeof c.algorithm === 'string' ? c.algorithm : 'fast',
            messages: c.messages.map(function (m) { return { role: m.role, content: m.content }; }),
            updated: Date.now(),
          };
          ids.add(copy.id);
          state.chats.push(copy);
        });
        save();
        renderAll();
      } catch (e) {
        show(err, T.import_failed);
      }
    });

    renderAll();
    loadModels();
  }

  if (body.dataset.page === 'index') initMask();
  if (body.dataset.page === 'chat') initChat();
  body.dataset.ready = 'true';
})();
