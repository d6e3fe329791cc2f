/*
 * Bianmin resident pages: what the phone keeps and sends (see server/src/web/resident/assets.rs
 * and docs/residents.md). Loaded by the pages and by the service worker, so nothing here
 * touches a page.
 *
 * A form submitted with this script is saved in IndexedDB (database "bianmin-resident", store
 * "outbox"), one record per submission: its fields, its photos already scaled on the phone, its
 * submission key, and its state:
 *
 *   saved    on this phone, not yet sent (with a note: offline, signed out, ...)
 *   sending  being sent
 *   sent     filed: its fields and photos are dropped, the link to the request kept for a while
 *   refused  the hub refused it (its words kept), kept until corrected or deleted
 *
 * Sending a record: the current session (CSRF token, owner tag) from /resident/uploads; each
 * photo sent in pieces to /resident/uploads/<sha256>, going on from what the hub holds; then
 * the form, naming each photo by its address. Every sending of one record carries its one
 * submission key, and the hub writes what a key names once: a record sent twice (an answer
 * lost, the page and the service worker at once) is filed once.
 */
(function (global) {
  'use strict';

  var DB_NAME = 'bianmin-resident';
  var STORE = 'outbox';
  var SESSION_URL = '/resident/uploads';
  var UPLOADS_URL = '/resident/uploads/';
  var CHANNEL = 'bianmin-outbox';
  var LOCK = 'bianmin-outbox';
  /* How long a sent record stays listed (its link), in ms. */
  var SENT_SHOWN_MS = 3 * 24 * 3600 * 1000;
  /* The longest side of a photo scaled on the phone, and its JPEG quality. */
  var MAX_SIDE = 1600;
  var QUALITY = 0.85;

  var zh = !global.document ||
    (global.document.documentElement.getAttribute('lang') || 'zh').indexOf('zh') === 0;
  function t(zhText, enText) { return zh ? zhText : enText; }

  function supported() {
    return !!(global.indexedDB && global.crypto && global.crypto.subtle &&
      global.fetch && global.Blob && global.FormData && global.Promise);
  }

  /* ---------------------------------------------------------------- the store */

  var opening = null;
  function database() {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        var req = global.indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          req.result.createObjectStore(STORE, { keyPath: 'key' });
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
      opening.catch(function () { opening = null; });
    }
    return opening;
  }

  function transact(mode, work) {
    return database().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var req = work(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(req ? req.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function all() {
    return transact('readonly', function (s) { return s.getAll(); }).then(function (list) {
      return (list || []).sort(function (a, b) { return a.created - b.created; });
    });
  }

  function get(key) {
    return transact('readonly', function (s) { return s.get(key); });
  }

  var listeners = [];
  var channel = global.BroadcastChannel ? new global.BroadcastChannel(CHANNEL) : null;
  if (channel) {
    channel.onmessage = function () { tell(); };
  }
  function tell() {
    listeners.forEach(function (f) { try { f(); } catch (e) { /* a listener's own trouble */ } });
  }
  /* Listeners are told of every change, made here or in another page or the worker. */
  function onChange(f) { listeners.push(f); }
  function changed() {
    tell();
    if (channel) { channel.postMessage('changed'); }
  }

  function put(record) {
    return transact('readwrite', function (s) { return s.put(record); }).then(changed);
  }

  function remove(key) {
    return transact('readwrite', function (s) { return s.delete(key); }).then(changed);
  }

  /* A new submission key: 128 random bits, hex (what the hub's forms carry). */
  function newKey() {
    var bytes = new Uint8Array(16);
    global.crypto.getRandomValues(bytes);
    return hex(bytes);
  }

  function hex(bytes) {
    var out = '';
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    }
    return out;
  }

  function fromHex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) {
      out[i] = parseInt(text.substr(i * 2, 2), 16);
    }
    return out;
  }

  /* ---------------------------------------------------------------- sending */

  /* Why a sending stopped before its end: the record stays saved, with this note. */
  function Later(note, words) { this.note = note; this.words = words || ''; }
  /* The hub refused the record as it is: kept as refused, with its words. */
  function Refused(words) { this.words = words; }

  function json(res) {
    return res.json().catch(function () { return {}; });
  }

  function wordsOf(body) {
    return (body && body.error && body.error.message) || '';
  }

  /* The session's CSRF token and owner tag; Later when offline or signed out. */
  function session() {
    return fetch(SESSION_URL, {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' }
    }).then(function (res) {
      if (res.status === 401) { throw new Later('signed_out'); }
      if (!res.ok) { throw new Later('busy'); }
      return res.json();
    }, function () {
      throw new Later('offline');
    });
  }

  /* A photo as sent: the owner tag, then the JPEG. */
  function body(photo, s) {
    return new Blob([fromHex(s.owner), photo.blob], { type: 'application/octet-stream' });
  }

  function sha256(blob) {
    return blob.arrayBuffer().then(function (bytes) {
      return global.crypto.subtle.digest('SHA-256', bytes);
    }).then(function (digest) {
      return hex(new Uint8Array(digest));
    });
  }

  function offline() { throw new Later('offline'); }

  /* Sends one photo in pieces, from what the hub holds. */
  function upload(photo, s) {
    var whole = body(photo, s);
    var size = whole.size;
    var url = UPLOADS_URL + photo.sha;
    var restarts = 0;
    function answer(res) {
      return json(res).then(function (b) { return { res: res, body: b }; });
    }
    function fail(a) {
      var status = a.res.status;
      if (status === 401) { throw new Later('signed_out'); }
      if (status >= 500 || status === 408 || status === 429) { throw new Later('busy', wordsOf(a.body)); }
      throw new Refused(wordsOf(a.body));
    }
    function from(offset) {
      if (offset >= size) { return Promise.resolve(); }
      var piece = whole.slice(offset, Math.min(size, offset + (s.piece || 65536)));
      return fetch(url + '?offset=' + offset + '&size=' + size, {
        method: 'PUT',
        body: piece,
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': s.csrf, 'Content-Type': 'application/octet-stream' }
      }).then(answer, offline).then(function (a) {
        if (a.res.ok && typeof a.body.received === 'number') {
          return a.body.complete ? undefined : from(a.body.received);
        }
        if (a.res.status === 409 && typeof a.body.received === 'number') {
          return from(a.body.received);
        }
        if (a.res.status === 422 && a.body.error && a.body.error.code === 'hash_mismatch' &&
            restarts < 2) {
          restarts += 1;
          return from(0);
        }
        return fail(a);
      });
    }
    return fetch(url, { credentials: 'same-origin', cache: 'no-store' })
      .then(answer, offline)
      .then(function (a) {
        if (a.res.ok && typeof a.body.received === 'number') { return from(a.body.received); }
        return fail(a);
      });
  }

  /* The text of the errors a refusing page shows. */
  function refusalWords(html) {
    var alert = /<(?:div|p)[^>]*role="alert"[^>]*>([\s\S]*?)<\/(?:div|p)>\s*(?:<form|<section|<p>|<\/div>|$)/i.exec(html);
    var text = (alert ? alert[1] : html).replace(/<li[^>]*>/gi, ' · ').replace(/<[^>]+>/g, ' ');
    text = text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    return text.replace(/\s+/g, ' ').trim().slice(0, 600);
  }

  /* Posts the form of `record`, each photo named by its address. */
  function post(record, s) {
    var form = new FormData();
    form.append('csrf', s.csrf);
    form.append('submission', record.key);
    record.fields.forEach(function (f) { form.append(f[0], f[1]); });
    record.photos.forEach(function (p) {
      form.append('photo_sha-' + p.index, p.sha);
      form.append('photo_name-' + p.index, p.name);
    });
    return fetch(record.action, {
      method: 'POST',
      body: form,
      credentials: 'same-origin'
    }).then(function (res) {
      return res.text().then(function (text) { return { res: res, text: text }; });
    }, offline);
  }

  var REQUEST_PAGE = /^\/resident\/requests\/[0-9a-f-]{36}$/;
  var RECEIPT = /\b\d{6,12}-\d{3}-\d{6}\b/;

  /* Whether a photo of `record` is not scaled yet (saved a moment before scaling). */
  function unscaled(record) {
    return record.photos.some(function (p) { return !p.scaled; });
  }

  /* Scales the photos of `record` not scaled yet (only a page can: it has a canvas), and saves
   * it so. A file that is not a picture refuses the record, in words that name it. */
  function prepare(record) {
    if (!unscaled(record)) { return Promise.resolve(record); }
    return Promise.all(record.photos.map(function (p) {
      if (p.scaled) { return p; }
      return scale(p.blob).then(function (s) {
        return { index: p.index, name: p.name, label: p.label, blob: s.blob, scaled: true,
          sha: '', done: false };
      }, function () {
        throw new Refused(t(
          '“' + p.label + '”选择的文件（' + p.name + '）不是照片。请用相机拍照，或选择 JPEG、PNG、WebP 格式的图片。',
          'The file chosen for “' + p.label + '” (' + p.name + ') is not a photo. Take a picture with the camera, or choose a JPEG, PNG or WebP image.'));
      });
    })).then(function (photos) {
      record.photos = photos;
      return put(record).then(function () { return record; });
    });
  }

  function sendOne(record, s, again) {
    record.state = 'sending';
    record.note = '';
    return put(record).then(function () {
      var chain = Promise.resolve();
      record.photos.forEach(function (photo) {
        chain = chain.then(function () {
          if (photo.sha && photo.owner === s.owner && photo.done) { return; }
          var ready = photo.sha && photo.owner === s.owner ? Promise.resolve(photo.sha)
            : sha256(body(photo, s));
          return ready.then(function (sha) {
            photo.sha = sha;
            photo.owner = s.owner;
            return upload(photo, s);
          }).then(function () {
            photo.done = true;
            return put(record);
          });
        });
      });
      return chain;
    }).then(function () {
      return post(record, s);
    }).then(function (a) {
      var url = new URL(a.res.url, global.location.href);
      if (a.res.ok && REQUEST_PAGE.test(url.pathname)) {
        /* Filed: what was typed and photographed leaves the phone's store. */
        var receipt = RECEIPT.exec(a.text);
        record.state = 'sent';
        record.link = url.pathname + url.search;
        record.receipt = receipt ? receipt[0] : '';
        record.fields = [];
        record.photos = [];
        record.sent = Date.now();
        return put(record);
      }
      if (a.res.ok && url.pathname === '/resident/sign-in') { throw new Later('signed_out'); }
      if (a.res.status === 422 && a.res.headers.get('x-bianmin-missing-upload') && !again) {
        /* A photo the hub no longer holds (swept, or sent from elsewhere): send them again. */
        record.photos.forEach(function (p) { p.done = false; });
        return sendOne(record, s, true);
      }
      if (a.res.status >= 500 || a.res.status === 408 || a.res.status === 429) {
        throw new Later('busy');
      }
      throw new Refused(refusalWords(a.text));
    });
  }

  function keep(record, problem) {
    if (problem instanceof Refused) {
      record.state = 'refused';
      record.words = problem.words;
    } else {
      record.state = 'saved';
      record.note = problem instanceof Later ? problem.note : 'busy';
      record.words = problem instanceof Later ? problem.words : '';
    }
    return put(record);
  }

  function locked(work) {
    if (global.navigator && global.navigator.locks) {
      return global.navigator.locks.request(LOCK, work);
    }
    return work();
  }

  /* Sends every saved record of the signed-in resident, one after another. Resolves with how
   * many are still waiting (0: nothing left to send). */
  var running = null;
  function sendAll() {
    if (running) { return running; }
    running = locked(function () {
      return all().then(function (records) {
        var now = Date.now();
        var old = records.filter(function (r) {
          return r.state === 'sent' && now - (r.sent || 0) > SENT_SHOWN_MS;
        });
        var waiting = records.filter(function (r) {
          return r.state === 'saved' || r.state === 'sending';
        });
        var chain = Promise.all(old.map(function (r) { return remove(r.key); }));
        if (!waiting.length) { return chain.then(function () { return 0; }); }
        return chain.then(session).then(function (s) {
          var left = 0;
          var stop = null;
          var next = Promise.resolve();
          waiting.forEach(function (record) {
            next = next.then(function () {
              if (stop) {
                left += 1;
                return keep(record, stop);
              }
              if (record.owner !== s.owner) {
                left += 1;
                record.state = 'saved';
                record.note = 'other_account';
                return put(record);
              }
              if (unscaled(record) && !global.document) {
                /* Its photos are scaled by a page, which sends it then. */
                left += 1;
                return undefined;
              }
              return prepare(record).then(function () {
                return sendOne(record, s);
              }).catch(function (problem) {
                if (!(problem instanceof Refused)) {
                  left += 1;
                  if (problem instanceof Later && problem.note !== 'busy') { stop = problem; }
                }
                return keep(record, problem);
              });
            });
          });
          return next.then(function () { return left; });
        }, function (problem) {
          return Promise.all(waiting.map(function (r) { return keep(r, problem); }))
            .then(function () { return waiting.length; });
        });
      });
    });
    var done = function () { running = null; };
    running.then(done, done);
    return running;
  }

  /* ---------------------------------------------------------------- photos */

  /* A photo scaled to MAX_SIDE on its long side as a JPEG (a canvas keeps no EXIF); the
   * picture is turned upright first, as the camera's orientation says. */
  function scale(file) {
    var decode = global.createImageBitmap
      ? global.createImageBitmap(file, { imageOrientation: 'from-image' })
      : Promise.reject(new Error('no createImageBitmap'));
    return decode.catch(function () { return viaImage(file); }).then(function (picture) {
      var w = picture.width;
      var h = picture.height;
      if (!w || !h) { throw new Error('empty picture'); }
      var k = Math.min(1, MAX_SIDE / Math.max(w, h));
      var cw = Math.max(1, Math.round(w * k));
      var ch = Math.max(1, Math.round(h * k));
      var canvas = global.document.createElement('canvas');
      canvas.width = cw;
      canvas.height = ch;
      var ctx = canvas.getContext('2d');
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, cw, ch);
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(picture, 0, 0, cw, ch);
      if (picture.close) { picture.close(); }
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (blob) { resolve({ blob: blob, width: cw, height: ch }); } else { reject(new Error('not encoded')); }
        }, 'image/jpeg', QUALITY);
      });
    });
  }

  function viaImage(file) {
    return new Promise(function (resolve, reject) {
      var img = new global.Image();
      var url = global.URL.createObjectURL(file);
      img.onload = function () { global.URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { global.URL.revokeObjectURL(url); reject(new Error('not a picture')); };
      img.src = url;
    });
  }

  global.BianminOutbox = {
    supported: supported,
    all: all,
    get: get,
    put: put,
    remove: remove,
    onChange: onChange,
    newKey: newKey,
    sendAll: sendAll,
    prepare: prepare,
    Refused: Refused,
    PAGES_CACHE: 'bianmin-resident-pages',
    SYNC_TAG: 'bianmin-outbox'
  };
})(self);
