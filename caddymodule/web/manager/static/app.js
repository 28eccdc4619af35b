// The Config Manager's page script: provider reordering (drag and drop,
// buttons, Alt+Arrow keys), token "replace", two-step confirmations,
// provider tests and the import size check. No framework, no HTML built
// from strings: text goes in through textContent.
'use strict';
(function () {
  const body = document.body;
  const live = document.getElementById('live');
  function say(text) {
    // Clear first so the same message is announced again.
    live.textContent = '';
    setTimeout(function () { live.textContent = text; }, 30);
  }
  function setRevision(rev) {
    document.querySelectorAll('input[name="revision"]').forEach(function (i) { i.value = String(rev); });
    const r = document.getElementById('revision');
    if (r) r.textContent = String(rev);
    const a = document.getElementById('activate-button');
    if (a) a.textContent = 'Activate revision ' + rev;
  }

  // Two-step confirmation instead of confirm(): the first press arms the
  // button, the second within 5 s submits.
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (f.dataset.armed === 'true') return;
      e.preventDefault();
      f.dataset.armed = 'true';
      const b = f.querySelector('button[type="submit"]');
      const old = b.textContent;
      b.textContent = f.dataset.confirm + ' Press again to confirm.';
      say(b.textContent);
      setTimeout(function () { f.dataset.armed = ''; b.textContent = old; }, 5000);
    });
  });

  // Tokens: shown as •••• with "Replace", which opens an empty field.
  document.addEventListener('click', function (e) {
    const b = e.target.closest('button.replace');
    if (!b) return;
    const box = b.closest('.secret');
    const input = box.querySelector('input[type="password"]');
    const keep = box.querySelector('input[type="hidden"]');
    if (keep) keep.remove();
    input.hidden = false;
    b.hidden = true;
    const dots = box.querySelector('.dots');
    if (dots) dots.hidden = true;
    input.focus();
  });

  // Import: refuse a file over the limit before sending it.
  const file = document.getElementById('file');
  if (file) {
    const max = Number(body.dataset.maxUpload) || 8388608;
    const err = document.getElementById('client-error');
    const check = function () {
      const f = file.files && file.files[0];
      const over = !!f && f.size > max;
      err.textContent = over ? 'The file is larger than the limit of ' + (max / 1048576) + ' MiB.' : '';
      err.hidden = !over;
      return !over;
    };
    file.addEventListener('change', check);
    document.getElementById('import-form').addEventListener('submit', function (e) {
      if (!check()) e.preventDefault();
    });
  }

  // Provider order.
  async function post(url, data) {
    const resp = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(data)
    });
    let out = {};
    try { out = await resp.json(); } catch (e) { out = {}; }
    return { ok: resp.ok, status: resp.status, data: out };
  }
  function items(list) {
    return Array.from(list.querySelectorAll(':scope > li.provider'));
  }
  async function saveOrder(list, moved, before) {
    const lis = items(list);
    const order = lis.map(function (li) { return Number(li.dataset.index); });
    const rev = document.querySelector('input[name="revision"]').value;
    list.setAttribute('aria-busy', 'true');
    let res;
    try {
      res = await post(list.dataset.url, { group: list.dataset.group, model: list.dataset.model, order: order, revision: Number(rev) });
    } catch (e) {
      res = { ok: false, status: 0, data: { error: 'The server did not answer.' } };
    }
    list.removeAttribute('aria-busy');
    if (!res.ok) {
      if (res.status === 401) { location.assign(body.dataset.root + '/login?next=' + encodeURIComponent(location.pathname)); return; }
      // Put the old order back and say why.
      before.forEach(function (li) { list.appendChild(li); });
      if (moved) moved.focus();
      showListError(list, res.data.error || 'The order could not be saved.');
      say(res.data.error || 'The order could not be saved.');
      return;
    }
    showListError(list, '');
    lis.forEach(function (li, i) {
      li.dataset.index = String(i);
      li.querySelectorAll('input[name="index"]').forEach(function (x) { x.value = String(i); });
      li.querySelectorAll('button.test').forEach(function (x) { x.dataset.index = String(i); });
    });
    setRevision(res.data.revision);
    if (moved) {
      const pos = lis.indexOf(moved) + 1;
      say((moved.dataset.id || 'Provider') + ' moved to position ' + pos + ' of ' + lis.length + '. Saved as revision ' + res.data.revision + '.');
    }
  }
  function showListError(list, text) {
    let p = list.nextElementSibling;
    if (!p || !p.classList.contains('list-error')) {
      p = document.createElement('p');
      p.className = 'error list-error';
      p.setAttribute('role', 'alert');
      list.after(p);
    }
    p.textContent = text;
    p.hidden = !text;
  }
  function move(li, delta) {
    const list = li.parentElement;
    const before = items(list);
    const i = before.indexOf(li);
    const j = i + delta;
    if (j < 0 || j >= before.length) {
      say((li.dataset.id || 'Provider') + ' is already ' + (delta < 0 ? 'first.' : 'last.'));
      return;
    }
    if (delta < 0) list.insertBefore(li, before[j]);
    else list.insertBefore(li, before[j].nextSibling);
    li.focus();
    saveOrder(list, li, before);
  }
  document.addEventListener('click', function (e) {
    const b = e.target.closest('button.move-up, button.move-down');
    if (!b) return;
    const li = b.closest('li.provider');
    move(li, b.classList.contains('move-up') ? -1 : 1);
  });
  document.addEventListener('keydown', function (e) {
    const li = e.target;
    if (!(li instanceof HTMLElement) || !li.matches('li.provider') || !e.altKey) return;
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      move(li, e.key === 'ArrowUp' ? -1 : 1);
    }
  });
  let dragged = null, dragBefore = null;
  document.addEventListener('dragstart', function (e) {
    const li = e.target.closest && e.target.closest('li.provider');
    if (!li) return;
    dragged = li;
    dragBefore = items(li.parentElement);
    li.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', li.dataset.id || '');
  });
  document.addEventListener('dragover', function (e) {
    if (!dragged) return;
    const over = e.target.closest && e.target.closest('li.provider');
    if (!over || over === dragged || over.parentElement !== dragged.parentElement) return;
    e.preventDefault();
    const r = over.getBoundingClientRect();
    const after = e.clientY > r.top + r.height / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextSibling : over);
  });
  // The drop saves the new order; dragend does when the drop fell
  // elsewhere (the list already shows the order the pointer made).
  function endDrag() {
    if (!dragged) return;
    const li = dragged, before = dragBefore;
    dragged = null;
    li.classList.remove('dragging');
    const now = items(li.parentElement);
    if (now.some(function (x, i) { return x !== before[i]; })) saveOrder(li.parentElement, li, before);
  }
  document.addEventListener('drop', function (e) {
    if (!dragged) return;
    e.preventDefault();
    endDrag();
  });
  document.addEventListener('dragend', endDrag);

  // Test a provider (admins): status and latency only.
  document.addEventListener('click', async function (e) {
    const b = e.target.closest('button.test');
    if (!b) return;
    const out = b.parentElement.querySelector('output.test-result');
    b.disabled = true;
    out.textContent = 'testing…';
    let res;
    try {
      res = await post(b.dataset.url, { group: b.dataset.group, model: b.dataset.model, index: Number(b.dataset.index) });
    } catch (err) {
      res = { ok: false, data: { error: 'The server did not answer.' } };
    }
    b.disabled = false;
    out.textContent = res.ok ? ('HTTP ' + res.data.status + ' in ' + res.data.latency_ms + ' ms') : (res.data.error || 'failed');
    say(out.textContent);
  });

  body.dataset.ready = 'true';
})();
