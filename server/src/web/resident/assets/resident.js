/*
 * Bianmin resident pages: progressive enhancement (see server/src/web/resident/assets.rs and
 * docs/residents.md). Without this script every page and form works as it is; with it:
 *
 * - a form marked data-outbox (filing, supplement) is saved on the phone when submitted, its
 *   photos scaled here first (1600 px on the long side, JPEG), then sent at once, or when the
 *   link returns (the online event, every page load, a retry timer, Background Sync where the
 *   browser has it);
 * - every resident page shows what is saved on this phone and its state, plainly;
 * - the service worker is registered, so the pages visited open offline.
 *
 * Without IndexedDB or crypto.subtle (a page served over plain http from anywhere but this
 * phone itself is not a secure context, and has no crypto.subtle), nothing is intercepted:
 * the forms are sent as they are, photos and all.
 */
(function () {
  'use strict';

  var O = window.BianminOutbox;
  if (!O || !O.supported() || !document.querySelector) { return; }

  var zh = (document.documentElement.getAttribute('lang') || 'zh').indexOf('zh') === 0;
  function t(zhText, enText) { return zh ? zhText : enText; }

  var RETRY_MS = 20000;

  /* ------------------------------------------------------------ the service worker */

  function clearPages() {
    if (!window.caches) { return Promise.resolve(); }
    return window.caches.delete(O.PAGES_CACHE).catch(function () {});
  }

  var worker = null;
  if ('serviceWorker' in navigator) {
    worker = navigator.serviceWorker.register('/resident/sw.js', { scope: '/resident' })
      .then(function () { return navigator.serviceWorker.ready; })
      .catch(function () { return null; });
  }

  var signedOut = document.querySelector(
    'form[action="/resident/sign-in"], form[action="/resident/activate"]');
  if (signedOut) {
    /* Signed out: the pages this phone kept of the last session go. */
    clearPages();
  } else if (worker) {
    /* This page, and the forms the list of items leads to, are kept for offline use (the
     * worker keeps what it fetches itself; this page came before it may have). */
    worker.then(function (reg) {
      if (!reg || !reg.active) { return; }
      var pages = [location.pathname + location.search];
      Array.prototype.forEach.call(
        document.querySelectorAll('ul.items a[href^="/resident/file/"]'),
        function (a) { pages.push(a.getAttribute('href')); });
      reg.active.postMessage({ keep: pages });
    });
  }

  var signOut = document.querySelector('form[action="/resident/sign-out"]');
  if (signOut) {
    signOut.addEventListener('submit', function (ev) {
      if (signOut.getAttribute('data-cleared')) { return; }
      ev.preventDefault();
      clearPages().then(function () {
        signOut.setAttribute('data-cleared', '1');
        signOut.submit();
      });
    });
  }

  /* ------------------------------------------------------------ what is saved, shown */

  var host = document.querySelector('main .resident') || document.querySelector('main');
  var panel = document.createElement('section');
  panel.id = 'outbox';
  panel.className = 'outbox card';
  panel.setAttribute('role', 'status');
  panel.setAttribute('aria-live', 'polite');
  panel.hidden = true;
  if (host) { host.insertBefore(panel, host.firstChild); }

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text) { e.textContent = text; }
    return e;
  }

  var NOTES = {
    offline: t('网络恢复后会自动发送，不用重新填写。',
      'It is sent by itself when the network returns: no need to fill it in again.'),
    signed_out: t('请先登录，登录后会自动发送。', 'Sign in, and it is sent.'),
    other_account: t('这是另一个账号在本手机上填写的，请用那个账号登录后发送。',
      'Another account filled this in on this phone: sign in with it to send it.'),
    busy: t('稍后会自动再试。', 'It is tried again in a moment.')
  };

  function item(record) {
    var box = el('div', 'outbox-item state-' + record.state);
    box.setAttribute('data-key', record.key);
    box.appendChild(el('strong', '', record.title || t('申请', 'A form')));
    if (record.state === 'saved') {
      box.appendChild(el('p', 'state', t('已保存在本手机，尚未发送', 'Saved on this phone, not yet sent')));
      if (record.note && NOTES[record.note]) { box.appendChild(el('p', 'small', NOTES[record.note])); }
    } else if (record.state === 'sending') {
      box.appendChild(el('p', 'state', t('正在发送…', 'Sending…')));
    } else if (record.state === 'sent') {
      box.appendChild(el('p', 'state', t('已发送，服务站已收到。', 'Sent: the service point has it.')));
      if (record.receipt) {
        box.appendChild(el('p', '', t('受理回执号：', 'Receipt number: ') + record.receipt));
      }
      var see = el('a', 'button', t('查看申请', 'See the request'));
      see.href = record.link;
      box.appendChild(see);
      box.appendChild(dismiss(record, t('知道了', 'OK')));
    } else if (record.state === 'refused') {
      box.appendChild(el('p', 'state', t('没有提交：', 'Not submitted: ') + (record.words || '')));
      var fix = el('a', 'button', t('改正后重新提交', 'Correct it and submit again'));
      fix.href = record.page + '?fill=' + encodeURIComponent(record.key);
      box.appendChild(fix);
      box.appendChild(dismiss(record, t('删除这份申请', 'Delete this form')));
    }
    return box;
  }

  function dismiss(record, words) {
    var button = el('button', 'secondary', words);
    button.type = 'button';
    button.addEventListener('click', function () { O.remove(record.key); });
    return button;
  }

  /* Forms submitted from this tab and sent without a hitch since: once sent, the tab goes to
   * the request's page, as a form posted without this script would. One whose sending had to
   * wait (offline, signed out) stays listed with its link instead: the resident may be doing
   * something else by the time it goes. Kept in sessionStorage, so a reload does not lose it. */
  var AWAITED = 'bianmin-outbox-awaited';
  function awaited() {
    try { return JSON.parse(sessionStorage.getItem(AWAITED) || '[]'); } catch (e) { return []; }
  }
  function setAwaited(keys) {
    try { sessionStorage.setItem(AWAITED, JSON.stringify(keys)); } catch (e) { /* none kept */ }
  }
  function await_(key) { setAwaited(awaited().concat([key])); }

  /* What the pages do as records change: go to a request just filed from this tab; forget a
   * sent record once its request's page is shown. */
  function follow(records) {
    var keys = awaited();
    var left = keys.filter(function (key) {
      var r = records.filter(function (x) { return x.key === key; })[0];
      return r && (r.state === 'sending' || (r.state === 'saved' && !r.note));
    });
    var go = null;
    records.forEach(function (r) {
      if (r.state === 'sent' && keys.indexOf(r.key) >= 0 && !go) { go = r; }
    });
    if (left.length !== keys.length) { setAwaited(left); }
    /* Refused as it was submitted from this tab and page: back into the form, with the why, as
     * the page without the script would show it. */
    records.forEach(function (r) {
      if (r.state !== 'refused' || keys.indexOf(r.key) < 0 || r.page !== location.pathname) {
        return;
      }
      var form = document.querySelector('form[data-outbox][action="' + r.action + '"]');
      if (form) {
        refill(form, r.key).then(function () {
          form.scrollIntoView({ block: 'start' });
        });
      }
    });
    if (go && go.link) {
      location.assign(go.link);
      return true;
    }
    var here = records.filter(function (r) {
      return r.state === 'sent' && r.link && r.link.split('?')[0] === location.pathname;
    });
    here.forEach(function (r) { O.remove(r.key); });
    return here.length > 0;
  }

  function render() {
    return O.all().then(function (records) {
      if (follow(records)) { return records; }
      while (panel.firstChild) { panel.removeChild(panel.firstChild); }
      if (!records.length) {
        panel.hidden = true;
        return records;
      }
      panel.appendChild(el('h2', '', t('本手机上的申请', 'Forms on this phone')));
      records.forEach(function (r) { panel.appendChild(item(r)); });
      panel.hidden = false;
      return records;
    }).catch(function () { return []; });
  }

  O.onChange(render);

  /* ------------------------------------------------------------ sending */

  var timer = null;
  function send() {
    if (timer) { clearTimeout(timer); timer = null; }
    return O.sendAll().then(function (left) {
      if (left) { timer = setTimeout(send, RETRY_MS); }
      return left;
    }, function () {
      timer = setTimeout(send, RETRY_MS);
    });
  }

  function askForSync() {
    if (!worker) { return; }
    worker.then(function (reg) {
      if (reg && reg.sync) { return reg.sync.register(O.SYNC_TAG); }
    }).catch(function () {});
  }

  window.addEventListener('online', send);
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) { send(); }
  });

  /* ------------------------------------------------------------ the forms */

  function labelOf(form, input) {
    var label = input.id && form.querySelector('label[for="' + input.id + '"]');
    return label ? label.textContent.trim() : input.name;
  }

  function localError(form, words) {
    var box = form.querySelector('.outbox-error');
    if (!box) {
      box = el('div', 'error outbox-error');
      box.setAttribute('role', 'alert');
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = words;
  }

  /* The form as a record: its fields, its photos as chosen (scaled right after it is saved,
   * so that nothing typed is lost to a reload meanwhile). */
  function collect(form) {
    var data = new FormData(form);
    var fields = [];
    var photos = [];
    data.forEach(function (value, name) {
      if (name === 'csrf' || name === 'submission') { return; }
      if (typeof value === 'string') {
        fields.push([name, value]);
        return;
      }
      if (!value.size && !value.name) { return; }
      var index = /^photo-(\d+)$/.exec(name);
      if (!index) { return; }
      var input = form.querySelector('input[name="' + name + '"]');
      photos.push({
        index: index[1],
        name: value.name || 'photo.jpg',
        label: input ? labelOf(form, input) : name,
        blob: value,
        scaled: false,
        sha: '',
        done: false
      });
    });
    return {
      key: O.newKey(),
      action: form.getAttribute('action'),
      page: location.pathname,
      kind: form.getAttribute('data-outbox'),
      title: form.getAttribute('data-title') || document.title,
      owner: form.getAttribute('data-owner') || '',
      fields: fields,
      photos: photos,
      state: 'saved',
      note: '',
      created: Date.now()
    };
  }

  function enhance(form) {
    var button = form.querySelector('button[type=submit]');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (form.getAttribute('data-busy')) { return; }
      form.setAttribute('data-busy', '1');
      if (button) { button.disabled = true; }
      var replaces = form.getAttribute('data-replaces');
      var record = collect(form);
      await_(record.key);
      O.put(record).then(function () {
        return O.prepare(record);
      }).then(function () {
        if (replaces) { return O.remove(replaces); }
      }).then(function () {
        /* Saved and ready: the form is emptied (a second tap is a second form). */
        form.reset();
        form.removeAttribute('data-replaces');
        var old = form.querySelector('.outbox-error');
        if (old) { old.parentNode.removeChild(old); }
        askForSync();
        panel.scrollIntoView({ block: 'start' });
        return send();
      }, function (e) {
        /* Not saved, or a file that is not a photo: the form stays as it was, with the why. */
        setAwaited(awaited().filter(function (k) { return k !== record.key; }));
        O.remove(record.key).catch(function () {});
        localError(form, (e && e.words) || (e && e.message) ||
          t('没有保存，请重试。', 'Not saved: try again.'));
      }).then(function () {
        form.removeAttribute('data-busy');
        if (button) { button.disabled = false; }
      });
    });
  }

  /* A refused form opened to be corrected: what was typed and photographed, back in place. */
  function refill(form, key) {
    return O.get(key).then(function (record) {
      if (!record || record.state !== 'refused' || record.action !== form.getAttribute('action')) {
        return;
      }
      record.fields.forEach(function (f) {
        var field = form.elements.namedItem(f[0]);
        if (field && field.type !== 'file' && field.type !== 'hidden') { field.value = f[1]; }
      });
      if (window.DataTransfer && window.File) {
        record.photos.forEach(function (p) {
          if (!p.blob) { return; }
          var input = form.querySelector('input[name="photo-' + p.index + '"]');
          if (!input) { return; }
          try {
            var files = new DataTransfer();
            files.items.add(new File([p.blob], p.name, { type: 'image/jpeg' }));
            input.files = files.files;
          } catch (e) { /* chosen again by hand */ }
        });
      }
      form.setAttribute('data-replaces', key);
      localError(form, t('没有提交：', 'Not submitted: ') + (record.words || ''));
    });
  }

  var fill = /[?&]fill=([0-9a-f]{16,64})/.exec(location.search);
  Array.prototype.forEach.call(document.querySelectorAll('form[data-outbox]'), function (form) {
    enhance(form);
    if (fill) { refill(form, fill[1]); }
  });

  render().then(function () { return send(); });
})();
